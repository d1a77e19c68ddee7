"""A generator trained alone on L_r against the frozen teacher: the tuner baselines' data-free objective.

``fit`` runs generator steps on L_r = CE + lambda * BNS (:mod:`autorecon_tf.losses.reconstruction`),
the generator's half of a GDFQ iteration without a student; ``evaluate`` on held-out noise returns
L_r, its parts and the diversity measure of :mod:`autorecon_tf.losses.diversity`, means over the
held-out batches. Both read batches ``(z, y)`` of
:func:`~autorecon_tf.trainers.compress_trainer.latent_dataset`, so no real data can enter.

Held-out batches are generated with ``training=True``, as compression uses a generator (its
BatchNorm normalises with the batch's statistics; after a short training its moving statistics
would describe nothing yet).
"""

from autorecon_tf.compat import keras, tf
from autorecon_tf.distribute import per_step_logs_of_first_replica
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.diversity import diversity, feature_model
from autorecon_tf.losses.reconstruction import reconstruction_loss

LOSS_PARTS = ("reconstruction", "ce", "bns")
DIVERSITY_PARTS = ("prediction_entropy", "prediction_information", "feature_distance")


class ReconstructionTrainer(keras.Model):
    """Trains ``generator`` on L_r through the frozen ``teacher``; evaluates L_r and diversity on held-out noise.

    Args:
        generator: functional ``[z, y] -> images`` model.
        teacher: the frozen functional teacher (logits, or probabilities with ``outputs_probabilities``).
        bns_weight: lambda of L_r (GDFQ: 0.1).
        outputs_probabilities: True if the teacher ends with softmax.

    Example:
        trainer = ReconstructionTrainer(generator, teacher.model)
        trainer.compile(optimizer=keras.optimizers.legacy.Adam(1e-3, beta_1=0.5))
        trainer.fit(latent_dataset(64, 100, 10, seed=0), epochs=1, steps_per_epoch=50, verbose=0)
        scores = trainer.evaluate(latent_dataset(64, 100, 10, seed=1234), steps=4, return_dict=True, verbose=0)
    """

    def __init__(self, generator, teacher, bns_weight=0.1, outputs_probabilities=False, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.teacher = teacher
        self.teacher.trainable = False
        self.teacher_stats = BatchNormStatistics(teacher)
        self.features = feature_model(teacher)
        self.bns_weight = float(bns_weight)
        self.outputs_probabilities = bool(outputs_probabilities)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSS_PARTS}
        self.diversity_trackers = {name: keras.metrics.Mean(name=name) for name in DIVERSITY_PARTS}

    @property
    def metrics(self):
        return [*self.trackers.values(), *self.diversity_trackers.values()]

    def compile(self, optimizer, **kwargs):
        super().compile(**kwargs)
        per_step_logs_of_first_replica(self)
        self.generator_optimizer = optimizer

    def _loss(self, z, labels):
        images = self.generator([z, labels], training=True)
        total, ce, bns, _ = reconstruction_loss(
            self.teacher_stats, images, labels, self.bns_weight, self.outputs_probabilities
        )
        for name, value in zip(LOSS_PARTS, (total, ce, bns)):
            self.trackers[name].update_state(value)
        return images, total

    def train_step(self, data):
        z, labels = data
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            _, total = self._loss(z, labels)
        self.generator_optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def test_step(self, data):
        z, labels = data
        images, _ = self._loss(z, labels)
        for name, value in diversity(self.features, images, labels, self.outputs_probabilities).items():
            self.diversity_trackers[name].update_state(value)
        return {tracker.name: tracker.result() for tracker in self.metrics}
