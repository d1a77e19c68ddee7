"""GDFQ's human-designed generator (Xu et al., ECCV 2020), the baseline of AutoReCon Table 2.

CIFAR form (``conditional_batchnorm=False``)::

    z * Embedding(y) -> Dense(128 s * h0 * w0) -> reshape -> BN
    -> [Upsample x2, Conv3x3(128 s), BN, LeakyReLU(0.2)]
    -> [Upsample x2, Conv3x3(64 s),  BN, LeakyReLU(0.2)]
    -> Conv3x3(C) -> tanh -> BN(no affine)

ImageNet form (``conditional_batchnorm=True``): z goes into the dense layer
without the label embedding, and the label enters through categorical
conditional BatchNorm (per-class scale and shift) in place of the three BNs.

The last BatchNorm, without affine parameters, maps the tanh output to zero
mean and unit variance per channel, i.e. into the teacher's normalised input
space. ``h0, w0 = ceil(H / 4), ceil(W / 4)``; if 4 h0 > H (e.g. 30x30) the
output is centre-cropped, so any teacher input size works (28, 32, 8, ...).

The hidden BNs use epsilon 0.8: GDFQ writes ``nn.BatchNorm2d(128, 0.8)``, whose
second positional argument is epsilon (a quirk inherited from PyTorch-GAN),
and we keep it to match the published generator.

Each ``[Upsample x2, Conv3x3]`` pair is one
:class:`~autorecon_tf.generators.upsample_conv.NearestUpsampleConv2D` layer: the
same function and weights, computed as a transposed convolution with 4 instead
of 9 multiply-adds per output pixel.
"""

import math

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.generators.upsample_conv import NearestUpsampleConv2D

_HIDDEN_EPSILON = 0.8
_BN_MOMENTUM = 0.9  # PyTorch momentum 0.1


@keras.saving.register_keras_serializable(package="autorecon_tf")
class ClassConditionalAffine(keras.layers.Layer):
    """Per-class scale and shift, ``gamma[y] * x + beta[y]``: the affine half of categorical conditional BN.

    Placed after a ``BatchNormalization(center=False, scale=False)`` it forms the
    ``CategoricalConditionalBatchNorm2d`` of GDFQ's ImageNet generator.

    Args:
        num_classes: number of label values ``y`` can take.

    Example:
        x = keras.layers.BatchNormalization(center=False, scale=False)(x)
        x = ClassConditionalAffine(10)([x, labels])
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def build(self, input_shape):
        channels = int(input_shape[0][-1])
        self.gamma = self.add_weight(name="gamma", shape=(self.num_classes, channels), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(self.num_classes, channels), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        features, labels = inputs
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        gamma = tf.gather(self.gamma, labels)[:, None, None, :]
        beta = tf.gather(self.beta, labels)[:, None, None, :]
        return features * tf.cast(gamma, features.dtype) + tf.cast(beta, features.dtype)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def _check(image_shape, num_classes, latent_dim, channel_scale):
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise UserError(f"generator image shape {tuple(image_shape)} must be (height, width, channels)")
    if int(num_classes) < 2:
        raise UserError(f"generator num_classes={num_classes} must be at least 2")
    if int(latent_dim) < 1:
        raise UserError(f"generator latent_dim={latent_dim} must be a positive integer")
    if not channel_scale > 0:
        raise UserError(f"generator channel_scale={channel_scale} must be positive (1.0 is GDFQ's 128/64 channels)")


def _batchnorm(x, labels, num_classes, conditional, epsilon, name):
    if not conditional:
        return keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=epsilon, name=name)(x)
    x = keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=epsilon, center=False, scale=False, name=f"{name}_normalize"
    )(x)
    return ClassConditionalAffine(num_classes, name=f"{name}_affine")([x, labels])


def _up_block(x, labels, filters, num_classes, conditional, name):
    x = NearestUpsampleConv2D(filters, 3, name=f"{name}_conv")(x)  # Upsample x2 + Conv3x3, at 4/9 of the cost
    x = _batchnorm(x, labels, num_classes, conditional, _HIDDEN_EPSILON, f"{name}_bn")
    return keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


def _crop_to(x, height, width):
    extra_h, extra_w = int(x.shape[1]) - height, int(x.shape[2]) - width
    if not extra_h and not extra_w:
        return x
    crop = ((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2))
    return keras.layers.Cropping2D(crop, name="crop")(x)


def build_gdfq_generator(
    image_shape, num_classes, latent_dim=100, channel_scale=1.0, conditional_batchnorm=False, name="gdfq_generator"
):
    """Builds GDFQ's generator as a functional model ``[z, y] -> images`` (see the module docstring).

    Args:
        image_shape: the teacher's input shape (height, width, channels).
        num_classes: the teacher's number of classes.
        latent_dim: size of z (GDFQ: 100).
        channel_scale: the channel scale s; the hidden widths are 128 s and 64 s.
        conditional_batchnorm: False for the CIFAR generator (label embedding times z),
            True for the ImageNet generator (categorical conditional BN).

    Example:
        generator = build_gdfq_generator((32, 32, 1), 10)
        images = generator([tf.random.normal([8, 100]), tf.zeros([8], tf.int32)])
    """
    _check(image_shape, num_classes, latent_dim, channel_scale)
    height, width, channels = (int(d) for d in image_shape)
    wide, narrow = max(1, round(128 * channel_scale)), max(1, round(64 * channel_scale))
    init_h, init_w = math.ceil(height / 4), math.ceil(width / 4)

    z = keras.Input(shape=(latent_dim,), name="z")
    labels = keras.Input(shape=(), dtype="int32", name="y")
    x = z
    if not conditional_batchnorm:
        embedding = keras.layers.Embedding(num_classes, latent_dim, name="label_embedding")(labels)
        x = keras.layers.Multiply(name="condition")([embedding, z])
    x = keras.layers.Dense(wide * init_h * init_w, name="project")(x)
    x = keras.layers.Reshape((init_h, init_w, wide), name="reshape")(x)
    x = _batchnorm(x, labels, num_classes, conditional_batchnorm, 1e-5, "block0_bn")
    x = _up_block(x, labels, wide, num_classes, conditional_batchnorm, "block1")
    x = _up_block(x, labels, narrow, num_classes, conditional_batchnorm, "block2")
    x = keras.layers.Conv2D(channels, 3, padding="same", name="to_image")(x)
    x = keras.layers.Activation("tanh", name="tanh")(x)
    x = _crop_to(x, height, width)
    images = keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=1e-5, center=False, scale=False, name="output_bn"
    )(x)
    return keras.Model([z, labels], images, name=name)
