"""Baseline (a): calibrate the student's activation ranges on Gaussian noise; no training.

The noise is N(0, 1) in the teacher's normalised input space, which is where
real images have zero mean and unit variance per channel.
"""

from autorecon_tf.compat import tf
from autorecon_tf.determinism import indexed_dataset, step_seed


def noise_dataset(image_shape, batch_size, seed=0, start_step=0):
    """Endless batches of N(0, 1) images of ``image_shape``; batch k depends on ``(seed, k)`` only."""
    shape = [batch_size, *image_shape]
    return indexed_dataset(
        lambda step: tf.random.stateless_normal(shape, seed=step_seed(seed, "images", step)), start_step
    )
