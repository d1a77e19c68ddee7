"""DFAD's own generator (``GeneratorA`` of Fang et al. 2019, VainF/Data-Free-Adversarial-Distillation).

CIFAR form, ``base_channels`` = ngf = 64 on 32x32 images::

    z -> Dense(2 ngf * h0 * w0) -> reshape (8x8x128) -> BN
    -> [Upsample x2, Conv3x3(2 ngf), BN, LeakyReLU(0.2)]
    -> [Upsample x2, Conv3x3(ngf),   BN, LeakyReLU(0.2)]
    -> Conv3x3(C) -> tanh -> BN(no affine)

It differs from GDFQ's (:mod:`~autorecon_tf.generators.gdfq`) in being
unconditional (no label embedding; DFAD's student never sees a class label) and
in PyTorch's default BN epsilon 1e-5 where GDFQ writes 0.8. It still takes the
project's generator inputs ``[z, y]`` and ignores ``y``, so that the trainers,
calibration and export treat every generator alike. ``h0, w0 = ceil(H / 4),
ceil(W / 4)``, centre-cropped as GDFQ's is for sizes that are not multiples of 4.
"""

import math

from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.generators.gdfq import _check, _crop_to
from autorecon_tf.generators.upsample_conv import NearestUpsampleConv2D

_BN_MOMENTUM = 0.9  # PyTorch momentum 0.1


def _up_block(x, filters, name):
    x = NearestUpsampleConv2D(filters, 3, name=f"{name}_conv")(x)  # interpolate x2 + Conv3x3
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=1e-5, name=f"{name}_bn")(x)
    return keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


@keras.saving.register_keras_serializable(package="autorecon_tf")
class DFADGenerator(keras.Model):
    """DFAD's ``GeneratorA`` as a functional model ``[z, y] -> images`` (``y`` unused; module docstring).

    Args:
        image_shape: the teacher's input shape (height, width, channels).
        latent_dim: size of z (DFAD on CIFAR: 256).
        base_channels: ngf; the hidden widths are 2 ngf and ngf (DFAD: 64).
        num_classes: the range of the (ignored) ``y``, kept for the generator contract.

    Example:
        generator = DFADGenerator((32, 32, 1), latent_dim=256)
        images = generator([tf.random.normal([8, 256]), tf.zeros([8], tf.int32)], training=True)
    """

    def __init__(self, image_shape, latent_dim=256, base_channels=64, num_classes=10, name="dfad_generator", **kwargs):
        _check(image_shape, num_classes, latent_dim, 1.0)
        if int(base_channels) < 1:
            raise UserError(f"DFAD generator base_channels={base_channels} must be a positive integer (DFAD: 64)")
        height, width, channels = (int(d) for d in image_shape)
        wide, narrow = 2 * int(base_channels), int(base_channels)
        init_h, init_w = math.ceil(height / 4), math.ceil(width / 4)
        z = keras.Input(shape=(int(latent_dim),), name="z")
        labels = keras.Input(shape=(), dtype="int32", name="y")  # unconditional: not used
        x = keras.layers.Dense(wide * init_h * init_w, name="project")(z)
        x = keras.layers.Reshape((init_h, init_w, wide), name="reshape")(x)
        x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=1e-5, name="block0_bn")(x)
        x = _up_block(x, wide, "block1")
        x = _up_block(x, narrow, "block2")
        x = keras.layers.Conv2D(channels, 3, padding="same", name="to_image")(x)
        x = _crop_to(keras.layers.Activation("tanh", name="tanh")(x), height, width)
        images = keras.layers.BatchNormalization(
            momentum=_BN_MOMENTUM, epsilon=1e-5, center=False, scale=False, name="output_bn"
        )(x)
        super().__init__(inputs=[z, labels], outputs=images, name=name, **kwargs)
        self.image_shape = (height, width, channels)
        self.latent_dim, self.base_channels, self.num_classes = int(latent_dim), int(base_channels), int(num_classes)

    def get_config(self):
        return {
            "image_shape": list(self.image_shape),
            "latent_dim": self.latent_dim,
            "base_channels": self.base_channels,
            "num_classes": self.num_classes,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
