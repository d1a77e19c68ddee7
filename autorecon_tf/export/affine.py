"""Exact per-channel affines in the .tflite: a 1x1 DepthwiseConv2D instead of MUL and ADD.

Two tensors of an export are a per-channel ``scale * x + offset`` that is not one of the
student's b-bit layers: the raw-pixel preprocessing (:mod:`autorecon_tf.export.pixels`) and every
BatchNormalization the converter cannot fold into a kernel (:func:`unfolded_batchnorms`: a BN whose
input is not a Conv/Dense output used only by BNs, e.g. DenseNet's BN-ReLU-Conv after each
Concatenate). Left as a Keras BatchNormalization, the converter writes such a BN as MUL and ADD with
the per-channel scale and offset as **int8 constants under one per-tensor scale**: on the DenseNet121
zoo student (W8A8) the multiplier vector [-3.5, 3.5] got a step of 0.028, so a channel whose
multiplier is 0.03 was stored as 0.028 or 0.055, and the 120 BN-ReLU outputs of the .tflite were
78% off the Keras student's (relative L2 on real images); top-1 fell from 91.15% to 83.84%.

As a 1x1 DepthwiseConv2D the same affine has per-channel int8 weights (each channel's one value is
stored as +-127 at scale ``|scale| / 127``: exact) and an int32 bias at ``input_scale * weight_scale``,
and the next ReLU fuses into it as into any kernel. The grid check and ``--weights=int4`` leave these
filters alone (:func:`is_exact_affine_filter`): they hold one value per channel by construction.
"""

import numpy as np

from autorecon_tf.compat import keras
from autorecon_tf.utils.functional import edges

# The export graph names a BatchNorm's affine after the BN, with this suffix; its filter tensor carries it.
BATCHNORM_AFFINE_SUFFIX = "_bn_affine"
# The raw-pixel prefix's affine (``export/pixels.py``).
PREPROCESSING_LAYER = "pixel_preprocessing"

KERNEL_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def depthwise_affine(scale, offset, name, trainable=False):
    """A built 1x1 DepthwiseConv2D computing ``scale * x + offset`` per channel (NHWC)."""
    scale = np.asarray(scale, np.float32)
    layer = keras.layers.DepthwiseConv2D(1, use_bias=True, name=name, trainable=trainable)
    layer.build((None, None, None, scale.size))
    layer.set_weights([scale.reshape(1, 1, scale.size, 1), np.asarray(offset, np.float32).reshape(scale.size)])
    return layer


def batchnorm_affine(layer):
    """The :func:`depthwise_affine` of a BatchNormalization layer in inference mode."""
    channels = int(layer.moving_mean.shape[0])
    gamma = layer.gamma.numpy() if layer.scale else np.ones(channels, np.float32)
    beta = layer.beta.numpy() if layer.center else np.zeros(channels, np.float32)
    scale = gamma / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
    return depthwise_affine(scale, beta - layer.moving_mean.numpy() * scale, layer.name + BATCHNORM_AFFINE_SUFFIX)


def unfolded_batchnorms(model, graph=None):
    """Names of the float, channels-last 4-D BatchNormalization layers of ``model`` that fold into no kernel.

    The converter folds a BN into the Conv/Dense whose output it takes if every consumer of that output
    is a BN. ``graph``: ``model``'s :class:`~autorecon_tf.utils.functional.Edges` (read from its config,
    so the extra calls of its layers by ``rebuild`` do not count).
    """
    graph = graph or edges(model)
    names = []
    for name in graph.order:
        layer = model.get_layer(name)
        if not isinstance(layer, keras.layers.BatchNormalization) or len(layer.input_shape) != 4:
            continue
        if list(np.ravel(layer.axis)) not in ([3], [-1]):
            continue
        sources = graph.producers.get(name, [])
        source = model.get_layer(sources[0]) if len(sources) == 1 else None
        kernel = isinstance(getattr(source, "layer", source), KERNEL_LAYERS)  # a student's kernels are TFMOT-wrapped
        users = graph.consumers.get(sources[0], []) if kernel else []
        if not (kernel and all(isinstance(model.get_layer(user), keras.layers.BatchNormalization) for user in users)):
            names.append(name)
    return names


def is_exact_affine_filter(tensor_name):
    """True for the filter tensor of an export affine (by the converter's tensor name): not a b-bit layer's."""
    return BATCHNORM_AFFINE_SUFFIX in str(tensor_name) or PREPROCESSING_LAYER in str(tensor_name)
