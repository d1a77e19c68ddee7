"""Stage 1 of AutoReCon (Algorithm 1): the bi-level generator search, driven by ``model.fit``.

Each ``train_step`` consumes one element of :func:`search_noise_dataset`, which
holds T1 "train" and V1 "validation" noise batches drawn independently:

1. T1 weight steps: sample an architecture with Gumbel-softmax (Eq. 7), generate
   G(z | y) with the supernet, minimise L_r on the train batch w.r.t. the
   supernet weights W_g only (the inner problem of Eq. 6);
2. V1 architecture steps: the same on the validation batch, w.r.t. alpha only
   (the outer problem of Eq. 6, first-order as in DARTS: no unrolling).

The frozen teacher is called with training=False inside the tape (L_r needs
gradients through it to the images) and has no trainable variable. The
temperature tau follows a :class:`~autorecon_tf.supernet.gumbel.TemperatureSchedule`
of the search step, counted by the weight optimizer's iterations, so it resumes
with the optimizer from a checkpoint.
"""

from autorecon_tf.compat import keras, tf
from autorecon_tf.determinism import indexed_dataset, step_seed
from autorecon_tf.distribute import per_step_logs_of_first_replica, replica_scale
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.reconstruction import reconstruction_loss
from autorecon_tf.supernet.gumbel import TemperatureSchedule


def search_noise_dataset(batch_size, latent_dim, num_classes, weight_steps=1, arch_steps=1, seed=0, start_step=0):
    """Endless elements {"train_z", "train_y", "val_z", "val_y"}, batch axis first.

    ``train_z`` is (batch, weight_steps, latent_dim), ``val_z`` is (batch, arch_steps,
    latent_dim); labels are uniform over the classes. Element k depends only on
    (seed, k), so a resumed search starting at ``start_step`` sees the noise the
    uninterrupted one would have seen. The batch axis comes from ``batch`` so
    that ``tf.distribute`` can split it across replicas.
    """

    def sample(step):
        return {
            "train_z": tf.random.stateless_normal(
                [batch_size, weight_steps, latent_dim], seed=step_seed(seed, "latent", 2 * step)
            ),
            "train_y": tf.random.stateless_uniform(
                [batch_size, weight_steps], step_seed(seed, "labels", 2 * step), 0, num_classes, tf.int32
            ),
            "val_z": tf.random.stateless_normal(
                [batch_size, arch_steps, latent_dim], seed=step_seed(seed, "latent", 2 * step + 1)
            ),
            "val_y": tf.random.stateless_uniform(
                [batch_size, arch_steps], step_seed(seed, "labels", 2 * step + 1), 0, num_classes, tf.int32
            ),
        }

    dataset = indexed_dataset(sample, start_step)
    return dataset.unbatch().batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


class SearchTrainer(keras.Model):
    """Alternates supernet weight steps and architecture steps on independent noise batches.

    Args:
        supernet: a ``GeneratorSupernet``.
        teacher: the frozen functional teacher (logits or probabilities).
        bns_weight: lambda of L_r (GDFQ: 0.1).
        weight_steps: T1, weight steps per ``train_step``.
        arch_steps: V1, architecture steps per ``train_step``.
        temperature_schedule: tau per search step (default: constant 1).
        outputs_probabilities: True if the teacher ends with softmax.
        arch_weight_decay: L2 on alpha in the architecture loss, PyTorch-Adam style (DARTS: 1e-3).
        seed: the Gumbel samples' seed; the sample of a step is a function of it and the
            optimizer's step counter, so a search is reproducible and resumes exactly.

    Example:
        trainer = SearchTrainer(supernet, teacher.model)
        trainer.compile(weight_optimizer=keras.optimizers.Adam(1e-3, 0.5),
                        arch_optimizer=keras.optimizers.Adam(3e-4, 0.5))
        trainer.fit(search_noise_dataset(64, 100, 10), epochs=10, steps_per_epoch=100)
        genotype = supernet.derive_genotype()
    """

    def __init__(
        self,
        supernet,
        teacher,
        bns_weight=0.1,
        weight_steps=1,
        arch_steps=1,
        temperature_schedule=None,
        outputs_probabilities=False,
        arch_weight_decay=0.0,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supernet = supernet.build_variables()
        self.teacher = teacher
        self.teacher.trainable = False
        self.teacher_stats = BatchNormStatistics(teacher)
        self.bns_weight = float(bns_weight)
        self.weight_steps, self.arch_steps = int(weight_steps), int(arch_steps)
        self.temperature_schedule = temperature_schedule or TemperatureSchedule(1.0, 1.0, kind="constant")
        self.outputs_probabilities = bool(outputs_probabilities)
        self.arch_weight_decay = float(arch_weight_decay)
        self.seed = int(seed)
        self.train_architecture = True
        names = ("ce", "bns", "reconstruction", "arch_reconstruction", "alpha_entropy", "temperature")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def compile(self, weight_optimizer, arch_optimizer, **kwargs):
        super().compile(**kwargs)
        per_step_logs_of_first_replica(self)
        self.weight_optimizer = weight_optimizer
        self.arch_optimizer = arch_optimizer

    @property
    def metrics(self):
        # The trackers of this phase, named as train_step's logs: Keras then takes an epoch's logs from them,
        # all-reduced across workers (distribute.per_step_logs_of_first_replica).
        return [t for name, t in self.trackers.items() if name != "arch_reconstruction" or self.train_architecture]

    def set_train_architecture(self, enabled):
        """Turns architecture steps on or off (off = weight warm-up); retraces the train function."""
        self.train_architecture = bool(enabled)
        self.train_function = None

    def search_step(self):
        """Completed train_steps so far (from the checkpointed weight optimizer)."""
        return self.weight_optimizer.iterations // self.weight_steps

    def _loss(self, noise, labels, temperature, seed):
        images = self.supernet([noise, labels], training=True, temperature=temperature, seed=seed)
        return reconstruction_loss(self.teacher_stats, images, labels, self.bns_weight, self.outputs_probabilities)

    def weight_step(self, noise, labels, temperature):
        """One step of the supernet weights W_g on L_r; alpha is not touched."""
        with tf.GradientTape() as tape:
            seed = step_seed(self.seed, "gumbel_weights", self.weight_optimizer.iterations)
            total, ce, bns, _ = self._loss(noise, labels, temperature, seed)
            scaled = replica_scale(total)
        variables = self.supernet.weight_variables
        gradients = tape.gradient(scaled, variables)
        self.weight_optimizer.apply_gradients(zip(gradients, variables))
        return total, ce, bns

    def arch_step(self, noise, labels, temperature):
        """One step of the architecture parameters alpha on L_r; no trainable weight of W_g is touched.

        (The supernet's BatchNorm moving averages do move, as in any training-mode
        forward pass; the search never reads them: it always normalises with batch statistics.)
        """
        with tf.GradientTape() as tape:
            seed = step_seed(self.seed, "gumbel_arch", self.arch_optimizer.iterations)
            total, _, _, _ = self._loss(noise, labels, temperature, seed)
            decay = tf.add_n([tf.reduce_sum(tf.square(alpha)) for alpha in self.supernet.arch_variables])
            scaled = replica_scale(total + 0.5 * self.arch_weight_decay * decay)
        variables = self.supernet.arch_variables
        gradients = tape.gradient(scaled, variables)
        self.arch_optimizer.apply_gradients(zip(gradients, variables))
        return total

    def train_step(self, data):
        temperature = self.temperature_schedule(self.search_step())
        for index in range(self.weight_steps):
            total, ce, bns = self.weight_step(data["train_z"][:, index], data["train_y"][:, index], temperature)
            for name, value in (("reconstruction", total), ("ce", ce), ("bns", bns)):
                self.trackers[name].update_state(value)
        for index in range(self.arch_steps if self.train_architecture else 0):
            total = self.arch_step(data["val_z"][:, index], data["val_y"][:, index], temperature)
            self.trackers["arch_reconstruction"].update_state(total)
        self.trackers["alpha_entropy"].update_state(self.supernet.mean_entropy())
        self.trackers["temperature"].update_state(temperature)
        return {tracker.name: tracker.result() for tracker in self.metrics}
