"""The export graph: the student plus 8-bit fake-quants on the tensors GDFQ leaves float.

Students built with ``int8_boundaries=True`` (an option, off by default; see
``autorecon_tf/quantization/boundaries.py``) already carry trained 8-bit
quantizers on those tensors; for them this module ranges only the input and
the pooling output. The ranges below are for GDFQ-placement students.

GDFQ quantizes weights and ReLU outputs only. A fully-integer .tflite also needs
int8 ranges for the other tensors that reach a kernel boundary: the input image,
BatchNorm outputs entering a residual Add, Add outputs not followed by a
quantized ReLU, pooling outputs and the logits. Given a model with fake-quants
on *some* tensors plus a representative dataset, the TF 2.21 converter does
convert, but produced wrong int8 arithmetic for Conv -> BN -> Add (the folded
BN's bias scale disagreed with its kernel; on a tiny ResNet the Keras/LiteRT
top-1 agreement was 58%). The fully fake-quantized graph is the path the
converter is built for (TFMOT's default scheme produces it), so export adds
8-bit fake-quants on exactly those tensors, with ranges measured here:

* min/max of the tensor over the calibration images (generated or noise: the
  tool is data-free);
* for a BatchNorm output, unioned with ``beta +- 4 |gamma|`` per channel: under
  the teacher's training data a BN output is roughly N(beta, gamma^2), so the BN
  statistics give a data-free range that noise images cannot.

The input's range is, when the caller knows it (``input_range``: the teacher's
preprocessing of pixels 0..255), that guaranteed range, not the calibration
images' range: generated images covered [-0.45, 0.20] of the digits' real
[-0.81, 1.85], and the clipped inputs brought the W4A4 student's Keras/LiteRT
agreement to 17.5%. A pooling layer fed by an a-bit activation gets a fine
grid on which its input and output are exact (``_fine_pool_ranges``).

Tensors that the converter fuses away are left alone: a Conv/Dense output
feeding its BatchNorm (folded), and any tensor consumed only by quantized ReLUs
(the ReLU and its a-bit fake-quant are fused into the producer). The added
fake-quants are TFMOT ``QuantizeLayer(FixedQuantizer)`` layers, used only in
this trace; the Keras student itself is not changed (its ranges are read with
``static_ranges``, never updated).
"""

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import QuantizeLayer

from autorecon_tf.compat import keras, tf
from autorecon_tf.quantization import boundaries
from autorecon_tf.quantization.quantizers import INT8_LEVELS
from autorecon_tf.quantization.student import activation_quantizers, quantize_wrappers, static_ranges

BN_RANGE_SIGMAS = 4.0
# The logits' int8 range: the calibration images' logit range times this margin,
# never wider than the interval bound (see ``_bound_pool_and_dense``).
LOGIT_MARGIN = 2.0
INPUT = "__input__"
# Key prefix of a fake-quant put on the *input* of a pooling layer (see ``_fine_pool_ranges``).
POOL_INPUT = "__pool_input__/"


def float_boundaries(student):
    """Names of the layers whose (float) output needs an int8 range in the .tflite.

    Empty for a student built with ``int8_boundaries`` except for pooling layers;
    students built without (GDFQ's placement) get their ranges measured here.
    """
    quantized = {name.split("/")[0] for name, _, _ in activation_quantizers(student)}
    weight_layers = {wrapper.name for wrapper in quantize_wrappers(student) if wrapper._weight_vars}
    return boundaries.float_boundaries(student, quantized, weight_layers)


def _bn_range(layer):
    gamma = layer.gamma.numpy() if layer.gamma is not None else 1.0
    beta = layer.beta.numpy() if layer.beta is not None else 0.0
    spread = BN_RANGE_SIGMAS * np.abs(gamma)
    return float(np.min(beta - spread)), float(np.max(beta + spread))


def measure_ranges(student, names, images, batch_size=64, input_range=None, logit_margin=LOGIT_MARGIN):
    """``{name: (min, max)}`` of the outputs of ``names`` (and of the input) on ``images``.

    ``input_range``: a guaranteed (data-free) range of the model input, e.g. the
    normalised image of pixel values 0..255 (:func:`preprocessing_input_range`).
    When given it replaces the range measured on ``images``: generated or noise
    images say nothing reliable about the range of real inputs, and an input
    range that is too narrow clips every real image before the first conv.
    ``logit_margin``: see ``_bound_pool_and_dense``.
    """
    image, tensors = _rebuild(student, ranges={})
    probe = keras.Model(image, [image] + [tensors[name] for name in names])
    low = np.full(len(names) + 1, np.inf)
    high = np.full(len(names) + 1, -np.inf)
    with static_ranges(student):
        for start in range(0, len(images), batch_size):
            values = probe(images[start : start + batch_size], training=False)
            low = np.minimum(low, [float(tf.reduce_min(v)) for v in values])
            high = np.maximum(high, [float(tf.reduce_max(v)) for v in values])
    ranges = {INPUT: (low[0], high[0]) if input_range is None else tuple(float(v) for v in input_range)}
    for index, name in enumerate(names, start=1):
        lo, hi = low[index], high[index]
        layer = student.get_layer(name)
        if isinstance(layer, keras.layers.BatchNormalization):
            bn_lo, bn_hi = _bn_range(layer)
            lo, hi = min(lo, bn_lo), max(hi, bn_hi)
        ranges[name] = (lo, hi)
    _fine_pool_ranges(student, ranges)
    _bound_pool_and_dense(student, ranges, logit_margin)
    return {name: (min(float(lo), 0.0), max(float(hi), 0.0)) for name, (lo, hi) in ranges.items()}


def preprocessing_input_range(preprocessing):
    """The normalised range of pixel values 0..255 under ``preprocessing`` (mean/std per channel), union over channels.

    Zero (the padding value) is included by ``measure_ranges``.
    """
    mean = np.asarray(preprocessing.mean, np.float64)
    std = np.asarray(preprocessing.std, np.float64)
    ends = np.concatenate([(0.0 - mean) / std, (1.0 - mean) / std])
    return float(np.min(ends)), float(np.max(ends))


def _activation_grid(student, name):
    """``(low, step, num_bits)`` of the a-bit grid of the activation quantizer of layer ``name`` (or None)."""
    for quantized_name, quantizer, variables in activation_quantizers(student):
        if quantized_name.split("/")[0] == name:
            bits = quantizer.num_bits
            minimum = min(float(variables["min"].numpy()), 0.0)
            maximum = max(float(variables["max"].numpy()), 0.0)
            levels = float(2**bits - 1)
            step = max((maximum - minimum) / levels, 1e-8)
            zero_point = min(max(round(-minimum / step), 0.0), levels)
            return -zero_point * step, step, bits
    return None


def _fine_pool_ranges(student, ranges):
    """Gives a pooling layer fed by an a-bit activation an exact int8 grid, input and output.

    The a-bit activation is an int8 tensor with scale ``step`` (its 2^a levels are
    int8 values). With only an 8-bit fake-quant on [0, a_max] after the pooling,
    the TF 2.21 converter gave the MEAN output the coarse ``step`` of its input
    (digits W4A4 student: scale 0.75 instead of 0.044), so the average of a-bit
    values was rounded back to the a-bit grid (up to step/2 off from Keras,
    where pooling is float). With a fake-quant of step ``step / 2^(8-a)`` before
    *and* after the pooling, MEAN gets that fine output scale (it rescales
    itself; no extra op appears): the a-bit values are exact on it (level k is
    k * 2^(8-a) <= 255) and so are averages over a power-of-two number of cells.
    In Keras both fake-quants are no-ops on the a-bit values.
    """
    producers = _producers(student)
    for name in [n for n in ranges if n in producers]:
        layer = student.get_layer(name)
        if not isinstance(getattr(layer, "layer", layer), boundaries.POOLING) or len(producers[name]) != 1:
            continue
        grid = _activation_grid(student, producers[name][0])
        if grid is None or grid[2] >= 8:
            continue
        low, step, bits = grid
        fine = step / 2 ** (8 - bits)
        fine_range = (low, low + INT8_LEVELS * fine)
        ranges[POOL_INPUT + name] = fine_range
        ranges[name] = fine_range


def _producers(student):
    return {
        entry["name"]: [inbound[0] for inbound in entry["inbound_nodes"][0]]
        for entry in student.get_config()["layers"]
        if entry["inbound_nodes"]
    }


def _producer_range(student, name, ranges, producers):
    (producer,) = producers[name]
    if producer in ranges:
        return ranges[producer]
    for quantized_name, _, variables in activation_quantizers(student):
        if quantized_name == producer:
            return float(variables["min"].numpy()), float(variables["max"].numpy())
    return None


def _bound_pool_and_dense(student, ranges, logit_margin=LOGIT_MARGIN):
    """Replaces measured ranges by guaranteed bounds where the inputs' ranges give one.

    A pooling output lies inside its input's range: data-free and never clips.

    A linear Dense output (the logits) lies inside the interval bound of its
    kernel over its input's range, but that bound is loose: [-95, 80] for the
    ResNet-20 Fashion-MNIST W8A8 student, whose real test logits span [-10, 21].
    Its int8 step (0.68) then decided the top-1 of 1.6% of the test images:
    Keras/LiteRT agreement 98.4%. A range that is too narrow is worse: a clipped
    logit turns the top classes into ties (the generated images' range
    [-3.9, 6.2] would give ~89%). So the logits get the calibration images'
    range times ``logit_margin`` (both ends), capped by the interval bound:
    [-17.7, 21.9] from noise images, 99.63% agreement (BENCHMARKS.md, issue 6).
    ``logit_margin=None`` keeps the interval bound.
    """
    producers = _producers(student)
    for name in [n for n in ranges if n in producers]:
        if POOL_INPUT + name in ranges:
            continue  # already on the fine grid of its a-bit input
        layer = student.get_layer(name)
        inner = getattr(layer, "layer", layer)
        source = _producer_range(student, name, ranges, producers)
        if source is None:
            continue
        if isinstance(inner, boundaries.POOLING):
            ranges[name] = source
        elif isinstance(inner, keras.layers.Dense) and inner.activation is keras.activations.linear:
            kernel = np.asarray(layer.weights[0].numpy() if layer is inner else _kernel(layer), np.float64)
            bias = inner.bias.numpy() if inner.use_bias else 0.0
            low, high = source
            lows = bias + np.sum(np.minimum(kernel * low, kernel * high), axis=0)
            highs = bias + np.sum(np.maximum(kernel * low, kernel * high), axis=0)
            bound = (float(np.min(lows)), float(np.max(highs)))
            if logit_margin is not None and name in ranges:
                measured = ranges[name]
                bound = (max(bound[0], logit_margin * measured[0]), min(bound[1], logit_margin * measured[1]))
            ranges[name] = bound


def _kernel(wrapper):
    """The fake-quantized kernel a Dense wrapper computes with."""
    weight, quantizer, variables = wrapper._weight_vars[0]
    return quantizer(weight, training=False, weights=variables).numpy()


def _fake_quant(name, value_range):
    quantizer = tfmot.quantization.keras.quantizers.FixedQuantizer(
        num_bits=8, init_min=value_range[0], init_max=value_range[1], narrow_range=False
    )
    return QuantizeLayer(quantizer, name=f"export_fq_{name}")


def _rebuild(student, ranges):
    """Re-calls the student's layers (shared weights) on a new input, inserting fake-quants for ``ranges``."""
    config = student.get_config()
    image = keras.Input(shape=student.inputs[0].shape[1:], name="image")
    input_name = config["input_layers"][0][0]
    tensors = {input_name: _fake_quant("input", ranges[INPUT])(image) if INPUT in ranges else image}
    for entry in config["layers"]:
        name = entry["name"]
        if name == input_name:
            continue
        (node,) = entry["inbound_nodes"]  # the teachers here call every layer once
        inputs = [tensors[inbound[0]] for inbound in node]
        if POOL_INPUT + name in ranges:
            inputs = [_fake_quant(f"{name}_input", ranges[POOL_INPUT + name])(inputs[0])]
        kwargs = node[0][3] if len(node[0]) > 3 else {}
        output = student.get_layer(name)(inputs[0] if len(inputs) == 1 else inputs, **kwargs)
        if name in ranges:
            output = _fake_quant(name, ranges[name])(output)
        tensors[name] = output
    return image, tensors


def build_export_model(student, ranges):
    """The student with 8-bit fake-quants on the tensors of ``ranges`` (see the module docstring)."""
    image, tensors = _rebuild(student, ranges)
    outputs = [tensors[entry[0]] for entry in student.get_config()["output_layers"]]
    return keras.Model(image, outputs[0] if len(outputs) == 1 else outputs, name=f"{student.name}_export")
