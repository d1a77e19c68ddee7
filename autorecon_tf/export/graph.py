"""The export graph: the student plus 8-bit fake-quants on the tensors GDFQ leaves float.

Deployment-faithful students (``int8_boundaries=True``, an option, off by
default; see ``autorecon_tf/quantization/boundaries.py``) already carry 8-bit
quantizers on those tensors, with the data-free ranges below, and on their
input; for them this module ranges only the pooling output. The ranges below
are measured here for GDFQ-placement students.

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

from autorecon_tf.compat import keras, tf
from autorecon_tf.quantization import boundaries
from autorecon_tf.quantization.boundaries import LOGIT_MARGIN, input_quantize_layer
from autorecon_tf.quantization.quantizers import INT8_LEVELS
from autorecon_tf.quantization.student import (
    activation_quantizers,
    effective_weights_of,
    quantize_wrappers,
    static_ranges,
)
from autorecon_tf.utils.functional import INPUT, producers, rebuild

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


def measure_ranges(student, names, images, batch_size=64, input_range=None, logit_margin=LOGIT_MARGIN):
    """``{name: (min, max)}`` of the outputs of ``names`` (and of the input) on ``images``.

    ``input_range``: a guaranteed (data-free) range of the model input, e.g. the
    normalised image of pixel values 0..255 (:func:`preprocessing_input_range`).
    When given it replaces the range measured on ``images``: generated or noise
    images say nothing reliable about the range of real inputs, and an input
    range that is too narrow clips every real image before the first conv.
    ``logit_margin``: see ``_bound_pool_and_dense``.
    """
    model, tensors = _rebuild(student, ranges={})
    image = model.inputs[0]
    probe = keras.Model(image, [image] + [tensors[name] for name in names])
    low = np.full(len(names) + 1, np.inf)
    high = np.full(len(names) + 1, -np.inf)
    with static_ranges(student):
        for start in range(0, len(images), batch_size):
            values = probe(images[start : start + batch_size], training=False)
            low = np.minimum(low, [float(tf.reduce_min(v)) for v in values])
            high = np.maximum(high, [float(tf.reduce_max(v)) for v in values])
    ranges = {}
    if boundaries.input_quantizer_range(student) is None:  # a deployment-faithful student has its own
        ranges[INPUT] = (low[0], high[0]) if input_range is None else tuple(float(v) for v in input_range)
    for index, name in enumerate(names, start=1):
        lo, hi = low[index], high[index]
        layer = student.get_layer(name)
        if isinstance(layer, keras.layers.BatchNormalization):
            bn_lo, bn_hi = boundaries.bn_output_range(layer)
            lo, hi = min(lo, bn_lo), max(hi, bn_hi)
        ranges[name] = (lo, hi)
    _fine_pool_ranges(student, ranges)
    _bound_pool_and_dense(student, ranges, logit_margin)
    return {name: (min(float(lo), 0.0), max(float(hi), 0.0)) for name, (lo, hi) in ranges.items()}


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
    inputs_of = producers(student)
    for name in [n for n in ranges if n in inputs_of]:
        layer = student.get_layer(name)
        if not isinstance(getattr(layer, "layer", layer), boundaries.POOLING) or len(inputs_of[name]) != 1:
            continue
        grid = _activation_grid(student, inputs_of[name][0])
        if grid is None or grid[2] >= 8:
            continue
        low, step, bits = grid
        fine = step / 2 ** (8 - bits)
        fine_range = (low, low + INT8_LEVELS * fine)
        ranges[POOL_INPUT + name] = fine_range
        ranges[name] = fine_range


def _producer_range(student, name, ranges, inputs_of):
    (producer,) = inputs_of[name]
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
    inputs_of = producers(student)
    for name in [n for n in ranges if n in inputs_of]:
        if POOL_INPUT + name in ranges:
            continue  # already on the fine grid of its a-bit input
        layer = student.get_layer(name)
        inner = getattr(layer, "layer", layer)
        source = _producer_range(student, name, ranges, inputs_of)
        if source is None:
            continue
        if isinstance(inner, boundaries.POOLING):
            ranges[name] = source
        elif isinstance(inner, keras.layers.Dense) and inner.activation is keras.activations.linear:
            kernel = layer.weights[0].numpy() if layer is inner else effective_weights_of(layer)
            bias = inner.bias.numpy() if inner.use_bias else 0.0
            bound = boundaries.dense_output_bound(kernel, bias, source)
            measured = ranges.get(name)
            ranges[name] = bound if measured is None else boundaries.margin_range(measured, bound, logit_margin)


def _rebuild(student, ranges):
    """The student's layers (shared weights) re-called, with 8-bit fake-quants for ``ranges``."""
    after, before = {}, {}
    for name, value_range in ranges.items():
        if name.startswith(POOL_INPUT):
            layer_name = name[len(POOL_INPUT) :]
            before[layer_name] = input_quantize_layer(value_range, name=f"export_fq_{layer_name}_input")
        else:
            after[name] = input_quantize_layer(value_range, name=f"export_fq_{'input' if name == INPUT else name}")
    return rebuild(student, after=after, before=before, name=f"{student.name}_export")


def build_export_model(student, ranges):
    """The student with 8-bit fake-quants on the tensors of ``ranges`` (see the module docstring)."""
    return _rebuild(student, ranges)[0]
