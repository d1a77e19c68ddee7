"""Int8 boundaries: the float tensors of a GDFQ student that a fully-integer .tflite stores as int8.

GDFQ quantizes weights and ReLU outputs only. LiteRT's int8 kernels also need an
int8 scale on every other tensor that crosses a kernel boundary: a BatchNorm
output entering a residual Add, an Add output not followed by a quantized ReLU,
the logits. If the Keras student leaves those float and only the export adds
8-bit fake-quants, the .tflite computes another function than the student that
was trained and evaluated: on a 40-iteration W8A8 ResNet-20 student the int8
logit rounding alone moved 1.5% of the test images' top-1
(BENCHMARKS.md, "Export parity"). So ``build_student(..., int8_boundaries=True, input_range=...)`` builds a
*deployment-faithful* student:

* each of these tensors gets an 8-bit :class:`ActivationQuantizer` (EMA range
  during warm-up, like the a-bit ones);
* at the end of warm-up, ``ranges.set_deploy_ranges`` widens those ranges to
  the data-free ones export uses (``quantization/ranges.py``) and they stay frozen: the EMA ranges
  learned on generated images alone had clipped the real logits ([-5.5, 5.4]
  where real logits reach ~20: top-1 fell from 91.1% to 79.0%);
* the input image gets the 8-bit fake-quant of the teacher's preprocessing
  range (:func:`input_quantize_layer`), the one the .tflite's QUANTIZE op applies.

So the student is trained and evaluated on the function the .tflite computes,
up to LiteRT's integer arithmetic; export then only adds pooling ranges, on
which the a-bit values are exact (``quantization/ranges.py``, ``_fine_pool_ranges``).

This module says *which* tensors are boundaries (:func:`float_boundaries`) and
holds the input's int8 boundary; the range each gets (data-free rules shared by
the student and export) is ``quantization/ranges.py``'s.

Concatenate: LiteRT's CONCATENATION has one scale for its inputs and output. Where an
input is already a-bit quantized, its output is left to the converter, which puts
every input on one of the inputs' scales; with float inputs only, the concatenated
tensors share one range (``ranges._shared_concat_ranges``). An 8-bit fake-quant on
the output of a concat of a-bit inputs made the converter keep an input's scale for
the tensor but round the next kernel's bias to the fake-quant's (15/255 of it).

Left out on purpose: tensors the converter fuses away (a Conv/Dense output
consumed only by its BatchNorm, folded into the kernel; any tensor consumed only
by quantized ReLUs, fused into the producer with the ReLU's a-bit range) and
pooling outputs (export puts them on a grid derived from the a-bit input), and
pass-through layers (:data:`PASS_THROUGH`) on a quantized tensor: a measured range
on the ZeroPadding2D after MobileNetV3's quantized stem hard-swish overrode that
Multiply's scale in the .tflite (0.0152 instead of 0.0260).
"""

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import QuantizeLayer

from autorecon_tf.compat import keras
from autorecon_tf.quantization.scheme import is_plain_relu
from autorecon_tf.utils.functional import edges

# Name of the input fake-quant of a deployment-faithful student.
INPUT_QUANTIZER = "input_int8"

POOLING = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.MaxPooling2D,
)

# Layers whose .tflite op (PAD, RESHAPE, or none) keeps its input's int8 scale.
PASS_THROUGH = (
    keras.layers.ZeroPadding2D,
    keras.layers.Dropout,
    keras.layers.Reshape,
    keras.layers.Flatten,
)


def unwrapped(layer):
    """The layer a TFMOT wrapper holds, else the layer itself."""
    return getattr(layer, "layer", layer)


def _fusing(model, name, quantized):
    """True if layer ``name`` is a quantized plain ReLU layer (the converter fuses it into its producer).

    LiteRT fuses a ReLU into a CONV_2D/ADD; a ReLU6 (RELU plus MINIMUM in the .tflite), swish,
    sigmoid, ... layer is an op of its own, whose int8 input is a boundary. Without one, the
    converter gave that input a calibrated scale but the next kernel's bias the fake-quant's.
    """
    return name in quantized and is_plain_relu(unwrapped(model.get_layer(name)))


def float_boundaries(model, quantized, weight_layers, include_pooling=True, graph=None):
    """Names of the layers of ``model`` whose float output becomes an int8 tensor in the .tflite.

    Args:
      model: a functional Keras model (teacher or student).
      quantized: names of the layers whose output is already fake-quantized.
      weight_layers: names of the Conv/Dense layers (their BatchNorm may fold into them).
      include_pooling: also list pooling layers (export ranges them itself).
      graph: ``model``'s :class:`~autorecon_tf.utils.functional.Edges`, when the caller has read them.
    """
    graph = graph or edges(model)
    quantized = set(quantized)
    found = []
    for name in graph.order:
        users = graph.consumers.get(name, [])
        layer = model.get_layer(name)
        inner = unwrapped(layer)
        sources = graph.producers.get(name, [])
        if isinstance(inner, PASS_THROUGH) and sources and all(source in quantized for source in sources):
            quantized.add(name)  # keeps the quantized input's grid; a range of its own would override it
        if name in quantized or isinstance(layer, (keras.layers.InputLayer, QuantizeLayer)):
            continue
        if not include_pooling and isinstance(inner, POOLING):
            continue
        if isinstance(inner, keras.layers.Concatenate) and any(source in quantized for source in sources):
            continue  # LiteRT's CONCATENATION takes the scale of its quantized inputs (converter's choice)
        fuses = not isinstance(inner, keras.layers.Concatenate)  # CONCATENATION has no fused activation
        if fuses and name not in graph.outputs and users and all(_fusing(model, user, quantized) for user in users):
            continue  # fused into the producer with the ReLU's a-bit range
        if (
            name in weight_layers
            and users
            and all(isinstance(unwrapped(model.get_layer(user)), keras.layers.BatchNormalization) for user in users)
        ):
            continue  # BatchNorm is folded into the conv
        found.append(name)
    return found


def input_quantize_layer(value_range, name=INPUT_QUANTIZER):
    """A TFMOT ``QuantizeLayer``: a fixed 8-bit fake-quant on ``value_range`` (zero included), as LiteRT's QUANTIZE."""
    low, high = min(float(value_range[0]), 0.0), max(float(value_range[1]), 0.0)
    quantizer = tfmot.quantization.keras.quantizers.FixedQuantizer(
        num_bits=8, init_min=low, init_max=high, narrow_range=False
    )
    return QuantizeLayer(quantizer, name=name)


def preprocessing_input_range(preprocessing, pixel_range=(0.0, 255.0)):
    """The normalised range of pixel values ``pixel_range`` under ``preprocessing`` (mean/std per channel), union
    over channels.

    ``preprocessing`` computes ``(pixels / 255 - mean) / std`` for pixels in the model's pixel range (a user's
    model: ``InputSpace.pixel_range``, which may be 0..1). Zero (the padding value) is added by
    ``measure_ranges`` and ``input_quantize_layer``.
    """
    mean = np.asarray(preprocessing.mean, np.float64)
    std = np.asarray(preprocessing.std, np.float64)
    ends = np.concatenate([(end / 255.0 - mean) / std for end in pixel_range])
    return float(np.min(ends)), float(np.max(ends))
