"""Data-free calibration images: what the export and the int8-boundary ranges are measured on.

Both come without real data: N(0, 1) noise in the teacher's normalised input
space (where real images have zero mean and unit variance per channel), or the
images of a saved generator. The compression job and the export read them from
here, so that neither imports the other.
"""

import numpy as np

from autorecon_tf.errors import UserError

SOURCES = ("noise", "generator")


def noise_images(input_shape, count, seed=0):
    """Standard-normal images in the teacher's normalised input space (data-free calibration)."""
    return np.random.default_rng(seed).standard_normal((count, *input_shape)).astype("float32")


def generated_images(generator, num_classes, count, seed=0):
    """Images from a saved generator (contract: inputs [z, y]) for data-free calibration."""
    rng = np.random.default_rng(seed)
    latent_dim = int(generator.inputs[0].shape[-1])
    z = rng.standard_normal((count, latent_dim)).astype("float32")
    y = rng.integers(0, num_classes, count).astype("int32")
    return np.asarray(generator([z, y], training=False), dtype=np.float32)


def held_out_images(generator, input_shape, num_classes, count, seed):
    """``(images, source)``: ``count`` images of ``generator`` ("generated"), or noise ("noise") without one."""
    if generator is not None:
        return generated_images(generator, num_classes, count, seed), "generated"
    return noise_images(input_shape, count, seed), "noise"


def calibration_set(source, count, input_shape, num_classes, generator=None, seed=0):
    """``count`` calibration images from ``source`` (one of :data:`SOURCES`)."""
    if source == "noise":
        return noise_images(input_shape, count, seed)
    if source == "generator":
        if generator is None:
            raise UserError("calibration.source='generator' needs --generator path/to/generator.keras")
        return generated_images(generator, num_classes, count, seed)
    raise UserError(f"calibration.source={source!r} is not supported: use 'noise' or 'generator'")
