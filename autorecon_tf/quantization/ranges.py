"""What int8 range each boundary tensor gets (``boundaries.py`` says which tensors are boundaries).

Two users share these rules. A deployment-faithful student (``int8_boundaries=True``)
widens its 8-bit boundary quantizers to data-free ranges at the end of warm-up
(:func:`set_deploy_ranges`). Export gives the tensors a GDFQ-placement student
leaves float an 8-bit fake-quant in the export graph (``export/graph.py``), with
the ranges of :func:`export_ranges`, measured on the calibration images (generated
or noise: the tool is data-free). Data-free rules:

* a BatchNorm output: the measured range unioned with ``beta +- 4 |gamma|`` per
  channel (:func:`bn_output_range`): under the teacher's training data a BN
  output is roughly N(beta, gamma^2), so the BN statistics give a data-free
  range that noise images cannot;
* the logits (a linear Dense): the measured range times ``LOGIT_MARGIN``,
  capped by the interval bound of the kernel over its input's range
  (:func:`logit_bound`, :func:`margin_range`; why in ``_bound_by_inputs``);
* an Add (student): the measured range unioned with the sum of its inputs' ranges;
* a pooling output (export): its input's range; fed by an a-bit activation, a
  fine grid on which its input and output are exact (``_fine_pool_ranges``).

"What range feeds this tensor" has one answer, :func:`source_range`: the range
of the producer's own quantizer (or export fake-quant), else, through a pooling
layer, its input's.

The input's export range is, when the caller knows it (``input_range``: the
teacher's preprocessing of pixels 0..255), that guaranteed range, not the
calibration images' range: generated images covered [-0.45, 0.20] of the
digits' real [-0.81, 1.85], and the clipped inputs brought the W4A4 student's
Keras/LiteRT agreement to 17.5%.
"""

import collections

import numpy as np

from autorecon_tf.compat import keras
from autorecon_tf.quantization import boundaries
from autorecon_tf.quantization.quantizers import INT8_LEVELS
from autorecon_tf.quantization.student import output_extremes, student_facts
from autorecon_tf.utils.functional import INPUT

BN_RANGE_SIGMAS = 4.0
# The logits' int8 range: the measured logit range times this margin, never
# wider than the interval bound (see ``dense_output_bound``).
LOGIT_MARGIN = 2.0
# Key prefix of an export range on the *input* of a pooling layer (see ``_fine_pool_ranges``).
POOL_INPUT = "__pool_input__/"


def bn_output_range(layer, sigmas=BN_RANGE_SIGMAS):
    """``(min, max)`` over channels of ``beta +- sigmas |gamma|``: a data-free range of a BatchNorm output."""
    gamma = layer.gamma.numpy() if layer.gamma is not None else 1.0
    beta = layer.beta.numpy() if layer.beta is not None else 0.0
    spread = sigmas * np.abs(gamma)
    return float(np.min(beta - spread)), float(np.max(beta + spread))


def dense_output_bound(kernel, bias, source_range):
    """The interval bound ``(min, max)`` of ``x @ kernel + bias`` over all ``x`` in ``source_range``.

    It never clips but is loose: [-95, 80] for the ResNet-20 Fashion-MNIST W8A8
    student, whose real test logits span [-10, 21] (hence ``LOGIT_MARGIN``).
    """
    kernel = np.asarray(kernel, np.float64)
    low, high = source_range
    lows = bias + np.sum(np.minimum(kernel * low, kernel * high), axis=0)
    highs = bias + np.sum(np.maximum(kernel * low, kernel * high), axis=0)
    return float(np.min(lows)), float(np.max(highs))


def margin_range(measured, bound, logit_margin=LOGIT_MARGIN):
    """``measured`` times ``logit_margin`` (both ends), within ``bound``; the bound when the margin is None."""
    if logit_margin is None:
        return bound
    return max(bound[0], logit_margin * measured[0]), min(bound[1], logit_margin * measured[1])


def is_logits_layer(layer):
    """True for a linear Dense layer (or a wrapper of one): the logits, whose range is capped by ``logit_bound``."""
    inner = boundaries.unwrapped(layer)
    return isinstance(inner, keras.layers.Dense) and inner.activation is keras.activations.linear


def logit_bound(layer, source, kernels):
    """The interval bound of a linear Dense layer's output over inputs in ``source``.

    ``kernels``: ``StudentFacts.kernels``, the b-bit kernel of a wrapped layer (a float one: its own).
    """
    inner = boundaries.unwrapped(layer)
    kernel = kernels[layer.name] if layer is not inner else layer.weights[0].numpy()
    bias = inner.bias.numpy() if inner.use_bias else 0.0
    return dense_output_bound(kernel, bias, source)


def with_bn_range(layer, value_range):
    """``value_range``, unioned with :func:`bn_output_range` if ``layer`` is (or wraps) a BatchNormalization."""
    inner = boundaries.unwrapped(layer)
    if not isinstance(inner, keras.layers.BatchNormalization):
        return value_range
    bn_low, bn_high = bn_output_range(inner)
    return min(value_range[0], bn_low), max(value_range[1], bn_high)


def source_range(model, name, ranges, inputs_of, fused_activations=True):
    """The range of layer ``name``'s output, None if it is float.

    ``ranges[name]``, or with ``fused_activations`` the range of its fused
    ReLU's quantizer (``ranges[name + "/activation"]``); else, through a
    single-input pooling layer, the range of that layer's input.
    """
    for key in (name, f"{name}/activation") if fused_activations else (name,):
        if key in ranges:
            return ranges[key]
    layer = model.get_layer(name)
    if isinstance(boundaries.unwrapped(layer), boundaries.POOLING) and len(inputs_of.get(name, ())) == 1:
        return source_range(model, inputs_of[name][0], ranges, inputs_of, fused_activations)
    return None


def _quantizer_ranges(quantizers):
    return {name: (float(v["min"].numpy()), float(v["max"].numpy())) for name, _, v in quantizers}


def export_boundaries(student):
    """Names of the layers whose (float) output needs an int8 range in the .tflite.

    Empty for a student built with ``int8_boundaries`` except for pooling layers;
    students built without (GDFQ's placement) get them measured by :func:`measure_ranges`.
    """
    facts = student_facts(student)
    return boundaries.float_boundaries(student, facts.quantized_layers, facts.weight_layers, graph=facts.graph)


def export_ranges(student, images, input_range=None, logit_margin=LOGIT_MARGIN):
    """Everything export needs from ``student``: ``{name: (min, max)}`` for ``export/graph.py``.

    The ranges of :func:`export_boundaries` (and of the input) on ``images``, as
    :func:`measure_ranges` gives them. It reads the student first, all at once (its
    ``StudentFacts``, the boundaries, their extremes on ``images``), then applies
    the rules to what it read. A UserError for a model that is not a student.
    """
    facts = student_facts(student)
    names = boundaries.float_boundaries(student, facts.quantized_layers, facts.weight_layers, graph=facts.graph)
    extremes = output_extremes(student, names, images)
    return _ranges(student, names, extremes, facts, input_range, logit_margin)


def measure_ranges(student, names, images, batch_size=64, input_range=None, logit_margin=LOGIT_MARGIN):
    """``{name: (min, max)}`` of the outputs of ``names`` (and of the input) on ``images``.

    ``input_range``: a guaranteed (data-free) range of the model input, e.g. the
    normalised image of pixel values 0..255 (``boundaries.preprocessing_input_range``).
    When given it replaces the range measured on ``images``: generated or noise
    images say nothing reliable about the range of real inputs, and an input
    range that is too narrow clips every real image before the first conv.
    ``logit_margin``: see ``_bound_by_inputs``.
    """
    facts = student_facts(student)
    extremes = output_extremes(student, names, images, batch_size)
    return _ranges(student, names, extremes, facts, input_range, logit_margin)


def _ranges(student, names, extremes, facts, input_range, logit_margin):
    """The rules applied to the measured ``extremes`` (``output_extremes``: the input's, then each of ``names``')."""
    low, high = extremes
    ranges = {}
    if facts.input_range is None:  # a deployment-faithful student has its own
        ranges[INPUT] = (low[0], high[0]) if input_range is None else tuple(float(v) for v in input_range)
    for index, name in enumerate(names, start=1):
        ranges[name] = with_bn_range(student.get_layer(name), (low[index], high[index]))
    inputs_of = facts.graph.producers
    _shared_concat_ranges(student, ranges, inputs_of)
    _fine_pool_ranges(student, ranges, facts.grids, inputs_of)
    _bound_by_inputs(student, ranges, facts, logit_margin)
    return {name: (min(float(lo), 0.0), max(float(hi), 0.0)) for name, (lo, hi) in ranges.items()}


def _shared_concat_ranges(student, ranges, inputs_of):
    """Gives every ranged Concatenate, and its ranged inputs, the union of their ranges (one scale in LiteRT).

    Concats that feed concats (DenseNet's blocks) form one group: all of it gets one range.
    """
    group = {}  # union-find over layer names

    def root(name):
        while group.setdefault(name, name) != name:
            name = group[name]
        return name

    for name in list(ranges):
        if name in inputs_of and isinstance(boundaries.unwrapped(student.get_layer(name)), keras.layers.Concatenate):
            for source in inputs_of[name]:
                if source in ranges:
                    group[root(source)] = root(name)
    members = {}
    for name in group:
        members.setdefault(root(name), []).append(name)
    for names in members.values():
        union = (min(ranges[n][0] for n in names), max(ranges[n][1] for n in names))
        for name in names:
            ranges[name] = union


def _fine_pool_ranges(student, ranges, grids, inputs_of):
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
    for name in [n for n in ranges if n in inputs_of]:
        layer = student.get_layer(name)
        if not isinstance(boundaries.unwrapped(layer), boundaries.POOLING) or len(inputs_of[name]) != 1:
            continue
        grid = grids.get(inputs_of[name][0])  # (low, step, bits) of the input's activation quantizer
        if grid is None or grid[2] >= 8:
            continue
        low, step, bits = grid
        fine = step / 2 ** (8 - bits)
        fine_range = (low, low + INT8_LEVELS * fine)
        ranges[POOL_INPUT + name] = fine_range
        ranges[name] = fine_range


def _bound_by_inputs(student, ranges, facts, logit_margin=LOGIT_MARGIN):
    """Replaces measured ranges by guaranteed bounds where the inputs' ranges give one.

    A pooling output lies inside its input's range, a pass-through layer's output (ZeroPadding2D, ...) too,
    and a Rescaling output is the affine image of its input's (:func:`rescaled_range`): data-free, never clips.

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
    inputs_of = facts.graph.producers
    known = collections.ChainMap(ranges, _quantizer_ranges(facts.quantizers))  # export ranges first, as they change
    for name in [n for n in ranges if n in inputs_of]:
        if POOL_INPUT + name in ranges:
            continue  # already on the fine grid of its a-bit input
        layer = student.get_layer(name)
        inner = boundaries.unwrapped(layer)
        pooling = isinstance(inner, boundaries.POOLING + boundaries.PASS_THROUGH)
        affine = isinstance(inner, keras.layers.Rescaling)
        if not (pooling or affine or is_logits_layer(layer)) or len(inputs_of[name]) != 1:
            continue  # e.g. a BN, or an Add (two inputs) not followed by a ReLU: measured
        (producer,) = inputs_of[name]
        if isinstance(student.get_layer(producer), keras.layers.InputLayer):
            source = ranges.get(INPUT)
        else:  # Export has read a producer's output quantizer only, never a Conv/Dense's fused ReLU one: kept so.
            source = source_range(student, producer, known, inputs_of, fused_activations=False)
        if source is None:
            continue
        if pooling:
            ranges[name] = source
        elif affine:
            ranges[name] = rescaled_range(inner, source)
        else:
            ranges[name] = margin_range(ranges[name], logit_bound(layer, source, facts.kernels), logit_margin)


def rescaled_range(layer, source):
    """The image ``(min, max)`` of ``source`` under a Rescaling layer (per-channel scale and offset allowed).

    The generator-space adapter of a model without preprocessing (``teachers/input_space.py``) maps
    [-1, 1] onto the pixel range: its output must get the image of the input's guaranteed range.
    Measured on generated images, which leave [-1, 1], DenseNet121's adapter got [-236, 314] for pixels
    0..255 (an int8 step of 2.2 pixel values).
    """
    scale, offset = np.asarray(layer.scale, np.float64), np.asarray(layer.offset, np.float64)
    ends = np.concatenate([np.ravel(scale * source[0] + offset), np.ravel(scale * source[1] + offset)])
    return float(np.min(ends)), float(np.max(ends))


def set_deploy_ranges(student, logit_margin=LOGIT_MARGIN, calibration_images=None):
    """Widens the int8-boundary ranges to data-free ones that real inputs cannot exceed (end of warm-up).

    BatchNorm outputs get ``beta +- 4|gamma|`` added, Adds the sum of their
    inputs' ranges, the logits ``logit_margin`` times their range capped by the
    interval bound (see the module docstring). The logits' range is the
    EMA range unioned with their range on ``calibration_images`` (export
    calibrates on N(0, 1) noise images): the EMA range of generated images
    alone, doubled, was [-8.8, 8.1] for a W6A6 ResNet-20 student whose real
    logits reach ~20, and 4.9% of the test images then had tied top logits.
    The a-bit ranges are not touched. Call it once, with the ranges frozen: the
    logit rule is not idempotent.

    Returns:
      ``{name: (min, max)}``: the new boundary ranges.
    """
    facts = student_facts(student)
    inputs_of = facts.graph.producers
    ranges = {}
    if facts.input_range is not None:
        ranges[boundaries.INPUT_QUANTIZER] = facts.input_range
    quantizers = facts.quantizers
    ranges.update(_quantizer_ranges(quantizers))
    changed = {}
    for name, quantizer, variables in quantizers:
        if not quantizer.boundary:
            continue
        wrapper = student.get_layer(name)
        low, high = with_bn_range(wrapper, ranges[name])
        if isinstance(wrapper.layer, keras.layers.Add):
            sources = [source_range(student, source, ranges, inputs_of) for source in inputs_of[name]]
            if all(source is not None for source in sources):
                low = min(low, sum(source[0] for source in sources))
                high = max(high, sum(source[1] for source in sources))
        elif is_logits_layer(wrapper):
            (producer,) = inputs_of[name]
            source = source_range(student, producer, ranges, inputs_of)
            if source is not None:
                bound = logit_bound(wrapper, source, facts.kernels)
                if calibration_images is not None and name in facts.graph.outputs:
                    measured = _unclipped_range(student, name, variables, bound, calibration_images)
                    low, high = min(low, measured[0]), max(high, measured[1])
                low, high = margin_range((low, high), bound, logit_margin)
        low, high = min(low, 0.0), max(high, 0.0)
        variables["min"].assign(low)
        variables["max"].assign(high)
        ranges[name] = changed[name] = (low, high)
    return changed


def _unclipped_range(student, name, variables, bound, images):
    """Range of the output ``name`` that ``variables`` quantizes, on ``images``, with that quantizer opened to ``bound``.

    The input quantizer is bypassed, as export measures its ranges: N(0, 1) noise
    clipped to the input range gave a W6A6 ResNet-20 student logits in [-5.8, 6.5],
    unclipped [-8.6, 10.1], the real test images [-9.5, 20.1].
    """
    variables["min"].assign(bound[0])
    variables["max"].assign(bound[1])
    low, high = output_extremes(student, [name], images, bypass={boundaries.INPUT_QUANTIZER})
    return float(low[1]), float(high[1])
