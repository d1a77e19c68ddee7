"""Folded biases on LiteRT's accumulator grid: a student whose int8 and int4 files compute one function.

LiteRT folds a BatchNorm into the conv before it and stores the folded bias as int32 in the
accumulator unit ``input_scale * filter_scale``. The student's BatchNorm offset is a float, so the
file rounds it, and the rounding depends on the filter scale: the int8 file's conv kernels hold a
b-bit level ``k`` as ``k * 2^(7-b)`` (``convert.py``), a unit ``2^(7-b)`` times finer than an int4
file's (``export/int4.py``), where each level is its own integer. At W4A4 that rounding alone made
a trained ResNet-20 student's int4 and int8 files disagree on 2.9% of the test images.

Here the student rounds the offset itself, in training, onto the coarsest of those units, the b-bit
accumulator unit ``u = input_scale * weight_step`` (per output channel):

* a BatchNorm after a quantized Conv2D / DepthwiseConv2D (consumed by it alone, so the converter
  folds it) becomes a :class:`GridBiasBatchNormalization`: in inference mode (the student's only
  mode, ``student.py``) it computes ``inv * (x + snap(o))`` with ``inv = gamma / sqrt(var + eps)``
  and the offset ``o = conv bias + beta / inv - mean`` snapped to a multiple of ``u`` with a
  straight-through estimator, written as the same FusedBatchNormV3 op with ``beta`` replaced;
* ``u`` and the conv bias live in the layer's non-trainable ``bias_unit`` and ``input_bias``,
  which :func:`sync_bias_units` sets from the conv's current weight step and its input's
  quantizer (the trainer before each student step, the pipeline once after the last one), so a
  saved student carries the grid its weights were trained with.

Then every folded bias is an integer in the b-bit unit, exactly representable in both files. That
alone does not make the fine int8 file and the int4 file one function: the builtin kernels'
requantization of the accumulator is not invariant to the power-of-two factor between their scales
(``export/int4.py``). So a W<=4 bias-grid student's int8 file is written with the int4 file's integers
and scales (``export/convert.py``, ``_grid_filters``), and the two compute the same outputs. A conv
whose input has no quantizer (a pooling output, ranged at export) keeps ``bias_unit`` 0: not snapped.
Dense biases (the logits) are not snapped; both files round them to the same unit.

``student.bias_grid=True`` (with ``student.int8_boundaries=True``, which gives every conv input a
quantizer) builds such a student; ``bias_grid_summary`` says how many biases were snapped.
"""

import numpy as np

from autorecon_tf.compat import keras, tf
from autorecon_tf.quantization.boundaries import INPUT_QUANTIZER, PASS_THROUGH, unwrapped
from autorecon_tf.quantization.quantizers import nudged_grid, weight_step
from autorecon_tf.utils.functional import edges, rebuild

FOLDING_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


@keras.saving.register_keras_serializable(package="autorecon_tf")
class GridBiasBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose folded offset, in inference mode, lies on ``bias_unit`` (see the module doc).

    ``bias_unit`` 0 (the initial value) leaves a channel as BatchNormalization computes it; in training
    mode (batch statistics) there is no folded offset and it computes as BatchNormalization.
    """

    quantize_as = keras.layers.BatchNormalization  # its row of the scheme's table (scheme.table_row)

    def build(self, input_shape):
        super().build(input_shape)
        shape = self.moving_mean.shape
        mean = tf.VariableAggregation.MEAN
        self.bias_unit = self.add_weight(
            name="bias_unit", shape=shape, initializer="zeros", trainable=False, aggregation=mean
        )
        self.input_bias = self.add_weight(
            name="input_bias", shape=shape, initializer="zeros", trainable=False, aggregation=mean
        )

    def snapped_beta(self):
        """``beta`` such that ``beta / inv - mean + input_bias`` is on the grid (STE to the float beta)."""
        gamma = self.gamma if self.scale else tf.ones_like(self.moving_mean)
        beta = self.beta if self.center else tf.zeros_like(self.moving_mean)
        mean = tf.cast(self.moving_mean, beta.dtype)
        inv = gamma * tf.math.rsqrt(tf.cast(self.moving_variance, beta.dtype) + self.epsilon)
        unit, input_bias = tf.cast(self.bias_unit, beta.dtype), tf.cast(self.input_bias, beta.dtype)
        active = (unit > 0) & (tf.abs(inv) > 0)
        safe_unit = tf.where(active, unit, tf.ones_like(unit))
        offset = input_bias + tf.math.divide_no_nan(beta, inv) - mean
        snapped = tf.where(active, tf.round(offset / safe_unit) * safe_unit, offset)
        offset = offset + tf.stop_gradient(snapped - offset)
        return tf.where(active, inv * (offset - input_bias + mean), beta)

    def call(self, inputs, training=None):
        if training is True:
            return super().call(inputs, training=True)
        gamma = self.gamma if self.scale else tf.ones_like(self.moving_mean)
        beta = self.snapped_beta()
        if inputs.shape.rank == 4 and list(self.axis) == [3]:
            # The op tf_keras's BatchNormalization runs in inference mode, which the converter folds.
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=self.moving_mean, variance=self.moving_variance,
                epsilon=self.epsilon, is_training=False,
            )  # fmt: skip
            return outputs
        shape = [1] * inputs.shape.rank
        for axis in self.axis:
            shape[axis] = inputs.shape[axis]
        return tf.nn.batch_normalization(
            inputs,
            tf.reshape(self.moving_mean, shape),
            tf.reshape(self.moving_variance, shape),
            tf.reshape(beta, shape),
            tf.reshape(gamma, shape),
            self.epsilon,
        )


def folding_batchnorms(model, weight_layers):
    """``{BatchNorm name: conv name}``: the BatchNorms of ``model`` that LiteRT folds into a quantized conv.

    ``weight_layers``: names of the layers whose weights the student quantizes.
    """
    graph = edges(model)
    found = {}
    for name in graph.order:
        layer = model.get_layer(name)
        sources = graph.producers.get(name, [])
        if type(layer) is not keras.layers.BatchNormalization or len(sources) != 1:
            continue
        conv = model.get_layer(sources[0])
        if (
            type(conv) in FOLDING_CONVS
            and conv.name in weight_layers
            and graph.consumers.get(conv.name) == [name]
            and getattr(conv.activation, "__name__", "linear") == "linear"
        ):
            found[name] = conv.name
    return found


def with_grid_biases(model, names):
    """``model`` with the BatchNorms ``names`` as :class:`GridBiasBatchNormalization` (same weights, grid 0)."""
    if not names:
        return model
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    replace = {name: GridBiasBatchNormalization.from_config(model.get_layer(name).get_config()) for name in names}
    rebuilt, _ = rebuild(model, replace=replace)
    for name, layer in replace.items():
        layer.set_weights(model.get_layer(name).get_weights() + [np.zeros_like(w) for w in layer.weights[-2:]])
    return rebuilt


def _input_step(model, graph, name, quantizers):
    """The int8 scale of the tensor layer ``name`` feeds a conv with, or None if it has no quantizer."""
    while isinstance(unwrapped(model.get_layer(name)), PASS_THROUGH) and len(graph.producers.get(name, [])) == 1:
        name = graph.producers[name][0]
    layer = model.get_layer(name)
    if name == INPUT_QUANTIZER:
        config = layer.quantizer.get_config()
        return nudged_grid(tf.constant(config["init_min"]), tf.constant(config["init_max"]), 8)[0]
    if name in quantizers:
        quantizer, variables = quantizers[name]
        return nudged_grid(variables["min"], variables["max"], quantizer.num_bits)[0]
    return None


def _kernel_step(wrapper):
    ((kernel, quantizer, _),) = wrapper._weight_vars
    if quantizer.depthwise:
        kernel = tf.reshape(kernel, tf.concat([tf.shape(kernel)[:2], [-1]], axis=0))
    return weight_step(tf.stop_gradient(kernel), quantizer.num_bits, quantizer.signed)[0]


def bias_sources(student):
    """``[(GridBiasBatchNormalization, conv wrapper, input step or None)]`` of a student (graph read once)."""
    from autorecon_tf.quantization.student import activation_quantizers, quantized_layer

    layers = [(layer, unwrapped(layer)) for layer in student.layers]
    grid = [(outer, inner) for outer, inner in layers if isinstance(inner, GridBiasBatchNormalization)]
    if not grid:
        return []
    graph = edges(student)
    quantizers = {}
    for name, quantizer, variables in activation_quantizers(student):
        quantizers.setdefault(quantized_layer(name), (quantizer, variables))
    sources = []
    for outer, inner in grid:
        conv = student.get_layer(graph.producers[outer.name][0])
        sources.append((inner, conv, _input_step(student, graph, graph.producers[conv.name][0], quantizers)))
    return sources


def sync_bias_units(student, sources=None):
    """Sets every grid BatchNorm's ``bias_unit`` (input step x the conv's weight step) and ``input_bias``."""
    for batchnorm, conv, input_step in bias_sources(student) if sources is None else sources:
        if input_step is None:
            continue
        batchnorm.bias_unit.assign(tf.cast(input_step, tf.float32) * _kernel_step(conv))
        bias = getattr(unwrapped(conv), "bias", None)
        if bias is not None:
            batchnorm.input_bias.assign(tf.stop_gradient(bias))


def bias_grid_summary(student):
    """``{"snapped": BatchNorms with a grid, "not_snapped": grid BatchNorms whose conv input has no quantizer}``."""
    sources = bias_sources(student)
    snapped = sum(1 for _, _, step in sources if step is not None)
    return {"snapped": snapped, "not_snapped": len(sources) - snapped}


def has_bias_grid(student):
    """True if ``student`` has grid BatchNorms (``student.bias_grid=True``)."""
    return any(isinstance(unwrapped(layer), GridBiasBatchNormalization) for layer in student.layers)


def grid_weight_bits(student):
    """The weight bit width of a bias-grid student; None without grid BatchNorms (or with mixed widths)."""
    if not has_bias_grid(student):
        return None
    bits = {quantizer.num_bits for layer in student.layers for _, quantizer, _ in getattr(layer, "_weight_vars", [])}
    return bits.pop() if len(bits) == 1 else None
