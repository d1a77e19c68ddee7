"""Data-free distillation into a smaller float student: DFAD's adversarial loop, with the objectives of DAFL and AutoReCon.

One ``train_step`` is one DFAD iteration (Fang et al. 2019) on a batch of
``(student_steps + 1) * B`` latent vectors ``z`` and sampled labels ``y``, split
into ``student_steps + 1`` chunks of ``B``:

1. ``student_steps`` student steps (DFAD: 5), each on ``x = G(z_k, y_k)`` (detached):
   the student minimises its loss against the frozen teacher's logits on ``x``
   (L1 for DFAD and AutoReCon, KD for DAFL; :data:`~autorecon_tf.trainers.objectives.OBJECTIVES`);
2. one generator step on the last chunk: the generator minimises the objective's
   terms (``-L1``, ``CE + lambda BNS``, DAFL's), gradients to the generator only.

Both players run in training mode, as in DFAD's PyTorch code (the student trains
from scratch, so its BatchNorm normalises with batch statistics): a forward pass of
one player in the other's step updates its BatchNorm moving statistics, never its
trainable weights or its optimiser. The teacher is always called with
``training=False`` and never changes.

A batch of images ``(x, labels)`` instead of latent vectors trains the student
alone on them (``student_steps`` chunks; the real-data KD ceiling, not data-free):
a trace-time branch on the rank of the batch.
"""

from autorecon_tf.compat import keras, tf
from autorecon_tf.distribute import replica_scale
from autorecon_tf.errors import UserError
from autorecon_tf.losses.adversarial import dafl_loss, logit_l1
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.distillation import kd_loss
from autorecon_tf.losses.reconstruction import reconstruction_loss
from autorecon_tf.trainers.objectives import OBJECTIVES


def teacher_with_features(teacher):
    """``teacher`` as ``x -> (features, logits)``: the features are the input of its last layer (DAFL's L_a)."""
    last = teacher.layers[-1]
    return keras.Model(teacher.inputs, [last.input, teacher.outputs[0]], name=f"{teacher.name}_features")


class DistillAdversarialTrainer(keras.Model):
    """Trains a generator and a float student against a frozen teacher (DFAD, DAFL or AutoReCon's variant).

    Args:
        generator: functional ``[z, y] -> images`` (DFAD's, GDFQ's or one built from a genotype); None to
            train on real images only.
        teacher: functional model that outputs logits; frozen.
        student: functional float model that outputs logits (any architecture, same input and classes).
        objective: a key of :data:`~autorecon_tf.trainers.objectives.OBJECTIVES`.
        student_steps: student steps per generator step (DFAD: 5).
        bns_weight: lambda of the reconstruction term (GDFQ: 0.1).
        activation_weight, entropy_weight: alpha and beta of DAFL's terms.
        temperature: of the ``kd`` student loss (DAFL: 1).

    Example:
        trainer = DistillAdversarialTrainer(generator, teacher, student, "adversarial", student_steps=5)
        trainer.compile(generator_optimizer=keras.optimizers.Adam(1e-3), student_optimizer=keras.optimizers.SGD(0.1))
        trainer.fit(latent_dataset(6 * 256, 256, 10), epochs=500, steps_per_epoch=50)
    """

    def __init__(
        self,
        generator,
        teacher,
        student,
        objective="adversarial",
        student_steps=5,
        bns_weight=0.1,
        activation_weight=0.1,
        entropy_weight=5.0,
        temperature=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise UserError(f"unknown distillation objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
        if int(student_steps) < 1:
            raise UserError(f"student_steps={student_steps} must be at least 1 (DFAD: 5)")
        self.objective_name, self.objective = objective, OBJECTIVES[objective]
        self.generator, self.teacher, self.student = generator, teacher, student
        self.teacher.trainable = False
        self.student_steps = int(student_steps)
        self.bns_weight, self.temperature = float(bns_weight), float(temperature)
        self.activation_weight, self.entropy_weight = float(activation_weight), float(entropy_weight)
        self.teacher_stats = BatchNormStatistics(teacher) if self.objective.reconstruction else None
        self.teacher_features = teacher_with_features(teacher) if self.objective.dafl else None
        names = ("generator_loss", *self.objective.parts, "student_loss", "agreement")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def compile(self, generator_optimizer, student_optimizer, **kwargs):
        super().compile(**kwargs)
        self.generator_optimizer, self.student_optimizer = generator_optimizer, student_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, images, training=False):
        return self.student(images, training=False)

    def student_loss(self, teacher_logits, student_logits):
        if self.objective.student_loss == "kd":
            return kd_loss(teacher_logits, student_logits, self.temperature)
        return logit_l1(teacher_logits, student_logits)

    def student_step(self, images):
        """One student update on ``images`` (detached) against the teacher's logits; returns the loss."""
        images = tf.stop_gradient(images)
        teacher_logits = self.teacher(images, training=False)
        variables = self.student.trainable_variables
        with tf.GradientTape() as tape:
            student_logits = self.student(images, training=True)
            loss = self.student_loss(teacher_logits, student_logits)
            scaled = replica_scale(loss)
        self.student_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        agree = tf.equal(tf.argmax(teacher_logits, -1), tf.argmax(student_logits, -1))
        self.trackers["student_loss"].update_state(loss)
        self.trackers["agreement"].update_state(tf.cast(agree, tf.float32))
        return loss

    def generator_loss(self, images, labels):
        """``(total, parts)`` of the objective on generated ``images`` (labels: what they were generated for)."""
        parts = {}
        if self.objective.reconstruction:
            total, parts["generator_ce"], parts["bns"], teacher_logits = reconstruction_loss(
                self.teacher_stats, images, labels, self.bns_weight
            )
        elif self.objective.dafl:
            features, teacher_logits = self.teacher_features(images, training=False)
            total, parts["one_hot"], parts["activation"], parts["information_entropy"] = dafl_loss(
                teacher_logits, features, self.activation_weight, self.entropy_weight
            )
        else:
            total, teacher_logits = 0.0, self.teacher(images, training=False)
        if self.objective.adversarial:
            parts["adversarial"] = -logit_l1(teacher_logits, self.student(images, training=True))
            total += parts["adversarial"]
        return total, parts

    def generator_step(self, z, labels):
        """One generator update; gradients to the generator's variables only."""
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            images = self.generator([z, labels], training=True)
            total, parts = self.generator_loss(images, labels)
            scaled = replica_scale(total)
        self.generator_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        for name, value in {"generator_loss": total, **parts}.items():
            self.trackers[name].update_state(value)
        return total

    def generate(self, z, labels):
        """A batch for a student step: the generator in training mode (batch statistics, as DFAD's), detached."""
        return tf.stop_gradient(self.generator([z, labels], training=True))

    def train_step(self, data):
        inputs, labels = data
        if inputs.shape.rank == 4:  # real images: the student alone
            for images in tf.split(inputs, self.student_steps):
                self.student_step(images)
        else:
            z_chunks = tf.split(inputs, self.student_steps + 1)
            label_chunks = tf.split(labels, self.student_steps + 1)
            for z, chunk_labels in zip(z_chunks[:-1], label_chunks[:-1]):
                self.student_step(self.generate(z, chunk_labels))
            self.generator_step(z_chunks[-1], label_chunks[-1])
        return {name: tracker.result() for name, tracker in self.trackers.items()}
