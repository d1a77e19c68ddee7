"""Knowledge distillation of a (quantized) student from a frozen teacher on given images.

The student half of GDFQ, on its own: it fine-tunes the student on batches of
images from a fixed source (ZeroQ distilled images, real images, noise) and is
the base of :class:`~autorecon_tf.trainers.compress_trainer.CompressTrainer`,
which adds the generator.

Two phases, switched with the ``warmup`` property:
- warm-up (calibration): the student's activation ranges follow an EMA of the
  batches it sees; its weights do not change;
- training: ranges frozen; the student, called with ``training=False`` (BN on
  its running statistics, BN affine parameters trained, as in GDFQ), takes SGD
  steps on KD + CE (Eq. of :mod:`autorecon_tf.losses.distillation`).
Switching the phase retraces ``train_step`` (it is a trace-time branch).
"""

from autorecon_tf.compat import keras, tf
from autorecon_tf.distribute import per_step_logs_of_first_replica, replica_scale
from autorecon_tf.losses.distillation import distillation_loss


def _set_range_update(student, enabled):
    from autorecon_tf.quantization import set_range_update

    set_range_update(student, enabled)


def _sync_bias_units(student):
    from autorecon_tf.quantization.bias_grid import sync_bias_units

    sync_bias_units(student)  # a student without grid BatchNorms: nothing (read at trace time)


class DistillTrainer(keras.Model):
    """Trains ``student`` on KD + CE against a frozen ``teacher``, over ``(images[, labels])`` batches.

    Batches without labels use the teacher's top-1 class as the CE label.

    Args:
        teacher: functional model that outputs logits; frozen (called with training=False).
        student: functional (QAT) copy of the teacher.
        temperature, kd_weight, ce_weight: see :func:`~autorecon_tf.losses.distillation.distillation_loss`.

    Example:
        trainer = DistillTrainer(teacher, student)
        trainer.compile(student_optimizer=optimizers.student_optimizer())
        trainer.warmup = False
        trainer.fit(image_dataset, epochs=1, steps_per_epoch=100)
    """

    def __init__(self, teacher, student, temperature=20.0, kd_weight=1.0, ce_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.teacher = teacher
        self.teacher.trainable = False
        self.student = student
        self.temperature = float(temperature)
        self.kd_weight = float(kd_weight)
        self.ce_weight = float(ce_weight)
        self._warmup = None
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.kd_tracker = keras.metrics.Mean(name="kd")
        self.student_ce_tracker = keras.metrics.Mean(name="student_ce")
        self.agreement_tracker = keras.metrics.Mean(name="agreement")

    def compile(self, student_optimizer, **kwargs):
        super().compile(**kwargs)
        per_step_logs_of_first_replica(self)
        self.student_optimizer = student_optimizer

    @property
    def metrics(self):
        return [self.student_loss_tracker, self.kd_tracker, self.student_ce_tracker, self.agreement_tracker]

    @property
    def warmup(self):
        return bool(self._warmup)

    @warmup.setter
    def warmup(self, enabled):
        """Warm-up: activation ranges update and the student is not trained; else ranges frozen."""
        enabled = bool(enabled)
        if enabled != self._warmup:
            _set_range_update(self.student, enabled)
            self._warmup = enabled
            self.train_function = None  # the phase is a trace-time branch: retrace

    def call(self, images, training=False):
        return self.student(images, training=False)

    def student_step(self, images, teacher_logits, labels):
        """One student update on a batch (warm-up: forward only, to update the ranges)."""
        if self._warmup is None:
            self.warmup = True
        images = tf.stop_gradient(images)
        teacher_logits = tf.stop_gradient(teacher_logits)
        if self._warmup:
            student_logits = self.student(images, training=False)
            total, kd, ce = self._student_loss(teacher_logits, student_logits, labels)
        else:
            variables = self.student.trainable_variables
            _sync_bias_units(self.student)  # the folded-bias grid of this step's weights
            with tf.GradientTape() as tape:
                student_logits = self.student(images, training=False)
                total, kd, ce = self._student_loss(teacher_logits, student_logits, labels)
                scaled = replica_scale(total)
            gradients = tape.gradient(scaled, variables)
            self.student_optimizer.apply_gradients(zip(gradients, variables))
        self._track_student(total, kd, ce, teacher_logits, student_logits)
        return student_logits

    def _student_loss(self, teacher_logits, student_logits, labels):
        return distillation_loss(
            teacher_logits, student_logits, labels, self.temperature, self.kd_weight, self.ce_weight
        )

    def _track_student(self, total, kd, ce, teacher_logits, student_logits):
        self.student_loss_tracker.update_state(total)
        self.kd_tracker.update_state(kd)
        self.student_ce_tracker.update_state(ce)
        agree = tf.equal(tf.argmax(teacher_logits, -1), tf.argmax(student_logits, -1))
        self.agreement_tracker.update_state(tf.cast(agree, tf.float32))

    def train_step(self, data):
        if isinstance(data, (tuple, list)):
            images, labels = data[0], (data[1] if len(data) > 1 else None)
        else:
            images, labels = data, None
        teacher_logits = self.teacher(images, training=False)
        if labels is None:
            labels = tf.argmax(teacher_logits, axis=-1, output_type=tf.int32)
        self.student_step(images, teacher_logits, labels)
        return {metric.name: metric.result() for metric in self.metrics}
