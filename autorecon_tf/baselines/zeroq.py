"""Baseline (b): ZeroQ-style distilled data (Cai et al., CVPR 2020).

Images start as N(0, 1) in the teacher's normalised input space and are
optimised with Adam so that the statistics at the input of every teacher
BatchNorm match its running statistics (the BNS loss of Eq. 3 alone: no labels,
no generator). The fixed set of distilled images is then used to calibrate the
student and to fine-tune it with KD (CE against the teacher's top-1 class).
ZeroQ's own recipe: 500 Adam steps at learning rate 0.5.
"""

import numpy as np

from autorecon_tf.compat import keras, tf
from autorecon_tf.determinism import indexed_dataset, shuffled_indices
from autorecon_tf.errors import UserError
from autorecon_tf.losses.bn_statistics import BatchNormStatistics


def _distill_batch(stats, initial, steps, learning_rate):
    images = tf.Variable(initial, trainable=True)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            _, loss = stats(images, training=False)
        optimizer.apply_gradients([(tape.gradient(loss, images), images)])
        return loss

    loss = None
    for _ in range(steps):
        loss = step()
    return images.numpy(), float(loss) if loss is not None else float("nan")


def distill_images(teacher, num_images, batch_size=128, steps=500, learning_rate=0.5, seed=0, log=None):
    """Returns ``num_images`` BN-statistics-matched images (float32, the teacher's input space)."""
    if num_images < 1 or batch_size < 1 or steps < 0:
        raise UserError(f"zeroq needs num_images>=1, batch_size>=1, steps>=0; got {num_images}, {batch_size}, {steps}")
    stats = BatchNormStatistics(teacher)
    image_shape = tuple(int(d) for d in teacher.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    batches = []
    for start in range(0, num_images, batch_size):
        size = min(batch_size, num_images - start)
        initial = rng.standard_normal((size, *image_shape)).astype(np.float32)
        images, loss = _distill_batch(stats, initial, steps, learning_rate)
        batches.append(images)
        if log is not None:
            log(f"zeroq: distilled images {start + size}/{num_images}, final BNS loss {loss:.4f}")
    return np.concatenate(batches, axis=0)


def image_dataset(images, batch_size, seed=0, start_step=0):
    """Endless shuffled batches of the distilled ``images`` (each pass a new order); batch k depends on (seed, k)."""
    images = tf.constant(images)
    size = int(images.shape[0])
    batch_size = min(int(batch_size), size)
    return indexed_dataset(lambda step: tf.gather(images, shuffled_indices(size, batch_size, seed, step)), start_step)
