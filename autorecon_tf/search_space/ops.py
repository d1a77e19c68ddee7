"""Candidate operations of the generator search space (paper Table 1).

``OPS`` maps an op name to one factory signature, ``factory(channels, name, affine=True)``,
that returns a fresh ``keras.Sequential`` of built-in layers (so it works as one
layer inside the subclassed supernet and can be unrolled layer by layer into a
flat functional generator). ``PRIMITIVES`` fixes, per edge kind, which ops an
edge mixes and the order of its architecture parameters alpha.

Choices where the paper is silent (documented here because the paper's Fig. 2
and Table 1 give only op names):

- Convolutions on normal-edges are pre-activation units, BatchNorm ->
  LeakyReLU(0.2) -> Conv2D (no bias, "same" padding, stride 1). The issue fixes
  this order for up-edges ("upsampling, then normalisation, activation and a
  1x1 convolution"); using it for every edge keeps a node a plain sum of
  convolution outputs. LeakyReLU(0.2) is the activation of GDFQ's generator.
- Up-edges and cross-edges both change resolution and (possibly) width, so
  both are "x2 upsample (nearest or bilinear) -> BatchNorm -> LeakyReLU ->
  1x1 Conv2D to the target width". A nearest edge computes it with the upsampling
  last, the same function on a quarter of the pixels (:func:`upsample_op`; the
  generator profile in BENCHMARKS.md, "generator_profile").
- ``affine=False`` drops the BatchNorm scale and shift. The supernet uses it, as
  DARTS does during its search: it removes two thirds of the supernet's
  variables (faster tracing and optimizer steps) and keeps the candidates'
  output scales comparable, so alpha rather than a BN gain weighs an op.
- ``identity`` is a parameter-free pass-through; ``none`` outputs zeros of the
  edge's output shape (on a cross-edge: twice the resolution, target width).
"""

from autorecon_tf.compat import keras, tf

NEGATIVE_SLOPE = 0.2

PRIMITIVES = {
    "normal": ("conv_1x1", "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "identity", "none"),
    "up": ("up_nearest", "up_bilinear"),
    "cross": ("up_nearest", "up_bilinear", "none_up"),
}

# Ops that contribute nothing: the supernet skips computing them (m_j * 0 = 0), the
# builder drops the edge.
ZERO_OPS = frozenset({"none", "none_up"})


@keras.saving.register_keras_serializable(package="autorecon_tf")
class Zero(keras.layers.Layer):
    """Outputs zeros shaped like the input upsampled by ``upsample`` with ``channels`` channels.

    Args:
        channels: output channels.
        upsample: spatial factor of the output (1 on normal-edges, 2 on cross-edges).
    """

    def __init__(self, channels, upsample=1, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.upsample = int(upsample)

    def call(self, inputs):
        shape = tf.shape(inputs)
        return tf.zeros([shape[0], shape[1] * self.upsample, shape[2] * self.upsample, self.channels], inputs.dtype)

    def compute_output_shape(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        scale = self.upsample
        return (
            input_shape[0],
            None if height is None else height * scale,
            None if width is None else width * scale,
            self.channels,
        )

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "upsample": self.upsample}


def _preactivation(name, affine):
    return [
        keras.layers.BatchNormalization(center=affine, scale=affine, name=f"{name}_bn"),
        keras.layers.LeakyReLU(NEGATIVE_SLOPE, name=f"{name}_act"),
    ]


def _conv(kernel_size, dilation):
    def factory(channels, name, affine=True):
        conv = keras.layers.Conv2D(
            channels, kernel_size, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_conv"
        )
        return keras.Sequential([*_preactivation(name, affine), conv], name=name)

    return factory


def upsample_op(interpolation, upsample_last=False):
    """The up/cross-edge factory: x2 ``interpolation`` -> BatchNorm -> LeakyReLU -> 1x1 conv.

    ``upsample_last=True`` computes the same function in the other order, BatchNorm -> LeakyReLU -> 1x1
    conv -> x2 upsample, on a quarter of the pixels. It is exact only for ``nearest``: nearest upsampling
    repeats every pixel 4 times, so a BatchNorm's batch mean and (biased) variance are those of the small
    tensor, and the per-pixel ops commute with it. Bilinear interpolation mixes pixels and changes the
    variance, so it keeps the order above. Same layers, names and weights in either order.
    """
    if upsample_last and interpolation != "nearest":
        raise ValueError(f"upsample_last is exact only for nearest upsampling, not {interpolation!r}")

    def factory(channels, name, affine=True):
        up = keras.layers.UpSampling2D(2, interpolation=interpolation, name=f"{name}_up")
        unit = [*_preactivation(name, affine), keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_conv")]
        return keras.Sequential([*unit, up] if upsample_last else [up, *unit], name=name)

    return factory


def _identity(channels, name, affine=True):
    del channels, affine  # a normal-edge keeps the width; nothing to normalise
    return keras.Sequential([keras.layers.Identity(name=f"{name}_identity")], name=name)


def _zero(upsample):
    def factory(channels, name, affine=True):
        del affine
        return keras.Sequential([Zero(channels, upsample, name=f"{name}_zero")], name=name)

    return factory


OPS = {
    "conv_1x1": _conv(1, 1),
    "conv_3x3": _conv(3, 1),
    "conv_5x5": _conv(5, 1),
    "dil_conv_3x3": _conv(3, 2),
    "dil_conv_5x5": _conv(5, 2),
    "identity": _identity,
    "none": _zero(1),
    "up_nearest": upsample_op("nearest", upsample_last=True),  # the same function, 4x fewer pixels (profile)
    "up_bilinear": upsample_op("bilinear"),
    "none_up": _zero(2),
}

# Names shown in plots and the genotype JSON's op list, as in the paper's Table 1.
DESCRIPTIONS = {
    "conv_1x1": "conv 1x1",
    "conv_3x3": "conv 3x3",
    "conv_5x5": "conv 5x5",
    "dil_conv_3x3": "conv 3x3 d2",
    "dil_conv_5x5": "conv 5x5 d2",
    "identity": "identity",
    "none": "none",
    "up_nearest": "nearest",
    "up_bilinear": "bilinear",
    "none_up": "none",
}
