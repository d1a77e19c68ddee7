"""Baseline (a): calibrate the student's activation ranges on Gaussian noise; no training.

The noise is N(0, 1) in the teacher's normalised input space, which is where
real images have zero mean and unit variance per channel.
"""

from autorecon_tf.compat import tf


def noise_dataset(image_shape, batch_size, seed=0):
    """Endless batches of N(0, 1) images of ``image_shape`` (labels come from the teacher)."""
    shape = [batch_size, *image_shape]

    def sample(step_seed):
        return tf.random.stateless_normal(shape, seed=step_seed)

    dataset = tf.data.Dataset.random(seed=seed).batch(2)
    return dataset.map(sample, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
