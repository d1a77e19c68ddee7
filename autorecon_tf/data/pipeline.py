"""tf.data pipelines and the normalisation that is stored with a teacher.

The teacher sees normalised float images: ``(pad(x / 255) - mean) / std``.
That :class:`Preprocessing` is written into ``teacher.json`` so that evaluation,
generators (which produce images in this normalised space, as GDFQ's do) and
export all agree on the input space.
"""

import dataclasses

import numpy as np

from autorecon_tf.compat import tf
from autorecon_tf.determinism import indexed_dataset, shuffled_indices, step_seed
from autorecon_tf.errors import UserError

DEFAULT_PIXEL_RANGE = (0.0, 255.0)  # our own teachers take uint8 pixels (the pipeline below feeds them so)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Per-channel normalisation plus optional centred zero padding to ``pad_to``."""

    mean: tuple
    std: tuple
    pad_to: int = 0

    def to_dict(self):
        return {"mean": list(self.mean), "std": list(self.std), "pad_to": self.pad_to}

    @classmethod
    def from_dict(cls, payload):
        try:
            return cls(tuple(payload["mean"]), tuple(payload["std"]), int(payload.get("pad_to", 0)))
        except (KeyError, TypeError) as error:
            raise UserError(f"normalisation record {payload!r} needs 'mean', 'std' and 'pad_to'") from error

    @classmethod
    def identity(cls, channels):
        return cls((0.0,) * channels, (1.0,) * channels, 0)

    def input_shape(self, image_shape):
        height, width, channels = image_shape
        if self.pad_to:
            if self.pad_to < max(height, width):
                raise UserError(f"pad_to={self.pad_to} is smaller than the images ({height}x{width})")
            height = width = self.pad_to
        return (height, width, channels)

    def __call__(self, images):
        """Maps uint8 NHWC images (numpy or tensor) to normalised float32 tensors."""
        images = tf.cast(images, tf.float32) / 255.0
        if self.pad_to:
            height, width = images.shape[1], images.shape[2]
            top, left = (self.pad_to - height) // 2, (self.pad_to - width) // 2
            images = tf.pad(
                images, [[0, 0], [top, self.pad_to - height - top], [left, self.pad_to - width - left], [0, 0]]
            )
        mean = tf.constant(self.mean, tf.float32)
        std = tf.constant(self.std, tf.float32)
        return (images - mean) / std


def fit_preprocessing(x_train, pad_to=0):
    """Per-channel mean and std of the training pixels in [0, 1], before padding."""
    pixels = x_train.reshape(-1, x_train.shape[-1]).astype(np.float64) / 255.0
    return Preprocessing(tuple(pixels.mean(0).tolist()), tuple(pixels.std(0).tolist()), int(pad_to))


def split_validation(x, y, size, seed=0):
    """A fixed (seeded) split of ``size`` validation examples off the training set."""
    if not 0 <= size < len(x):
        raise UserError(f"validation size {size} must be in [0, {len(x)})")
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:size], order[size:]
    return (x[train], y[train]), (x[val], y[val])


def _augment(images, pad, flip, seed):
    """A crop after ``pad`` pixels of zero padding (one offset per batch) and per-image horizontal flips."""
    shape = tf.shape(images)
    height, width = images.shape[1], images.shape[2]
    if pad:
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        crop_seed = tf.random.experimental.stateless_fold_in(seed, 0)
        images = tf.image.stateless_random_crop(padded, tf.stack([shape[0], height, width, shape[3]]), crop_seed)
    if flip:
        images = tf.image.stateless_random_flip_left_right(images, tf.random.experimental.stateless_fold_in(seed, 1))
    return images


def train_dataset(x, y, preprocessing, batch_size, augment=True, crop_padding=4, flip=True, seed=0, start_step=0):
    """Endless shuffled, augmented ``(images, labels)`` batches; batch k depends on ``(seed, k)`` only.

    Each pass over ``x`` is a new seeded permutation and every image is seen once per
    pass (:func:`~autorecon_tf.determinism.shuffled_indices`); ``start_step`` is where a
    resumed run starts.
    """
    images, labels = tf.constant(x), tf.constant(y)
    size = len(x)
    if not 1 <= batch_size <= size:
        raise UserError(f"batch size {batch_size} must be in [1, {size}] (the training images)")

    def batch(step):
        indices = shuffled_indices(size, batch_size, seed, step)
        batch_images = preprocessing(tf.gather(images, indices))
        if augment:
            batch_images = _augment(batch_images, crop_padding, flip, step_seed(seed, "augment", step))
        return batch_images, tf.gather(labels, indices)

    return indexed_dataset(batch, start_step)


def eval_dataset(x, y, preprocessing, batch_size=256):
    """Batched, normalised (images, labels), in order."""
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return dataset.map(lambda images, labels: (preprocessing(images), labels)).prefetch(tf.data.AUTOTUNE)
