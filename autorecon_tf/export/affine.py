"""Exact per-channel affines in the .tflite: a 1x1 DepthwiseConv2D instead of MUL and ADD.

Two tensors of an export are a fixed per-channel ``scale * x + offset`` that is not one of the
student's b-bit layers: the raw-pixel preprocessing (:mod:`autorecon_tf.export.pixels`) and a float
``Rescaling`` inside the student, such as the generator-space adapter of a model given
``--input_range`` (``teachers/input_space.py``: [-1, 1] -> [0, 255] for a DenseNet that takes raw
pixels). The export graph calls each as :func:`depthwise_affine` (:func:`rescaling_affines`).

Why: left as a Keras ``Rescaling``, the converter wrote QUANTIZE (the input's scale 2/255) ->
DEQUANTIZE -> QUANTIZE at scale 0.996 -> MUL -> ADD. The second QUANTIZE put the [-1, 1] image on a
step of about 1: every pixel became 0, 127.5 or 255 (measured 2026-12-04 on the DenseNet121 zoo student
at W8A8: Keras 91.15%, .tflite 83.84%; on a tiny ResNet given ``--input_range=0,255`` the adapter's
output was up to 64 pixel levels off, 254 at the requantized input). As one DEPTHWISE_CONV_2D the affine
has per-channel int8 weights (each channel's one value is stored as +-127 at scale ``|scale| / 127``:
exact) and an int32 bias at ``input_scale * weight_scale``; its output is off by at most one step of
its own int8 scale. The grid check and ``--weights=int4`` leave these filters alone
(:func:`is_exact_affine_filter`): they hold one value per channel by construction.
"""

import numpy as np

from autorecon_tf.compat import keras

# A Rescaling's affine is named after the layer with this suffix; its filter tensor carries it.
AFFINE_SUFFIX = "_exact_affine"
# The raw-pixel prefix's affine (``export/pixels.py``).
PREPROCESSING_LAYER = "pixel_preprocessing"


def depthwise_affine(scale, offset, name, trainable=False):
    """A built 1x1 DepthwiseConv2D computing ``scale * x + offset`` per channel (NHWC)."""
    scale = np.asarray(scale, np.float32).ravel()
    layer = keras.layers.DepthwiseConv2D(1, use_bias=True, name=name, trainable=trainable)
    layer.build((None, None, None, scale.size))
    layer.set_weights([scale.reshape(1, 1, scale.size, 1), np.asarray(offset, np.float32).reshape(scale.size)])
    return layer


def rescaling_affines(model):
    """``{layer name: depthwise_affine}`` for every ``Rescaling`` of ``model`` on an image (4-D) tensor."""
    affines = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Rescaling) or len(layer.output_shape) != 4:
            continue
        channels = layer.output_shape[-1]
        scale = np.broadcast_to(np.asarray(layer.scale, np.float32).ravel(), (channels,))
        offset = np.broadcast_to(np.asarray(layer.offset, np.float32).ravel(), (channels,))
        affines[layer.name] = depthwise_affine(scale, offset, layer.name + AFFINE_SUFFIX)
    return affines


def is_exact_affine_filter(tensor_name):
    """True for the filter tensor of an export affine (by the converter's tensor name): not a b-bit layer's."""
    return AFFINE_SUFFIX in str(tensor_name) or PREPROCESSING_LAYER in str(tensor_name)
