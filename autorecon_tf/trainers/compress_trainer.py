"""GDFQ-style data-free compression (Algorithm 1, stage 2, of AutoReCon; Xu et al. 2020).

Each ``train_step`` on a batch of noise ``z`` and sampled labels ``y``:

1. generator step: ``x = G(z, y)``; loss ``CE(T(x), y) + lambda * BNS`` (Eq. 3-4)
   through the frozen teacher ``T`` (training=False), gradients to ``G`` only;
2. student step on the same batch ``x`` (detached) and the teacher logits of
   step 1: KD + CE with ``y`` (:mod:`autorecon_tf.losses.distillation`).

Reusing the batch and the teacher logits, as GDFQ does, makes an iteration one
generator+teacher forward/backward and one student forward/backward.

During warm-up only the generator trains; the student is only called, so that
its activation ranges (EMA of min/max) follow the generated images. After
warm-up the ranges are frozen and the student trains in BN inference mode.
The data source is :func:`latent_dataset`, so ``model.fit`` drives the loop.
"""

from autorecon_tf.compat import keras, tf
from autorecon_tf.determinism import indexed_dataset, step_seed
from autorecon_tf.distribute import replica_scale
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.reconstruction import reconstruction_loss
from autorecon_tf.trainers.distill_trainer import DistillTrainer


def latent_dataset(batch_size, latent_dim, num_classes, seed=0, start_step=0):
    """Endless batches of ``(z ~ N(0, I), y ~ U{0..num_classes-1})``; batch k depends on ``(seed, k)`` only.

    ``start_step`` is the first k, so a resumed run sees the batches the uninterrupted one would have seen.
    """

    def sample(step):
        z = tf.random.stateless_normal([batch_size, latent_dim], seed=step_seed(seed, "latent", step))
        labels = tf.random.stateless_uniform(
            [batch_size], seed=step_seed(seed, "labels", step), maxval=num_classes, dtype=tf.int32
        )
        return z, labels

    return indexed_dataset(sample, start_step)


class CompressTrainer(DistillTrainer):
    """Trains a generator and a quantized student against a frozen teacher, GDFQ style.

    Args:
        generator: functional ``[z, y] -> images`` model (GDFQ's or one built from a genotype).
        teacher: functional model that outputs logits; frozen.
        student: functional QAT copy of the teacher.
        bns_weight: lambda of the generator loss (GDFQ: 0.1).
        temperature, kd_weight, ce_weight: the student loss.

    Example:
        trainer = CompressTrainer(generator, teacher, student)
        trainer.compile(generator_optimizer=optimizers.generator_optimizer(),
                        student_optimizer=optimizers.student_optimizer())
        trainer.warmup = True
        trainer.fit(latent_dataset(128, 100, 10), epochs=4, steps_per_epoch=200)
        trainer.warmup = False
        trainer.fit(latent_dataset(128, 100, 10, start_step=800), epochs=400, initial_epoch=4, steps_per_epoch=200)
    """

    def __init__(self, generator, teacher, student, bns_weight=0.1, **kwargs):
        super().__init__(teacher, student, **kwargs)
        self.generator = generator
        self.bns_weight = float(bns_weight)
        self.teacher_stats = BatchNormStatistics(teacher)
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.generator_ce_tracker = keras.metrics.Mean(name="generator_ce")
        self.bns_tracker = keras.metrics.Mean(name="bns")

    def compile(self, generator_optimizer, student_optimizer, **kwargs):
        super().compile(student_optimizer=student_optimizer, **kwargs)
        self.generator_optimizer = generator_optimizer

    @property
    def metrics(self):
        return [self.generator_loss_tracker, self.generator_ce_tracker, self.bns_tracker, *super().metrics]

    def generator_step(self, z, labels):
        """One generator update; returns the generated images and the teacher's logits on them."""
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            images = self.generator([z, labels], training=True)
            total, ce, bns, teacher_logits = reconstruction_loss(self.teacher_stats, images, labels, self.bns_weight)
            scaled = replica_scale(total)
        gradients = tape.gradient(scaled, variables)
        self.generator_optimizer.apply_gradients(zip(gradients, variables))
        self.generator_loss_tracker.update_state(total)
        self.generator_ce_tracker.update_state(ce)
        self.bns_tracker.update_state(bns)
        return images, teacher_logits

    def train_step(self, data):
        z, labels = data
        images, teacher_logits = self.generator_step(z, labels)
        self.student_step(images, teacher_logits, labels)
        return {metric.name: metric.result() for metric in self.metrics}
