"""GDFQ's quantizers as TFMOT ``Quantizer`` objects, written in an int8-exportable form.

Two quantizers, both with a straight-through estimator (STE):

* :class:`WeightQuantizer`: per output channel, asymmetric min/max (GDFQ/ZeroQ),
  recomputed from the current weights at every call (the weights move during QAT).
* :class:`ActivationQuantizer`: per tensor, asymmetric, range = EMA of the batch
  min/max with momentum 0.9; the first update copies the batch range (GDFQ's
  ``QuantAct``). Updates happen while the non-trainable variable ``range_update``
  is true, *independently of the Keras ``training`` flag*, because GDFQ runs the
  student with BatchNorm in inference mode while its ranges still update.

Export-friendly expression (see ``/work/shared/paper/LOWBIT-EXPORT.md``): LiteRT
int8 kernels reject 4-bit fake-quants on activations and need symmetric
per-channel int8 kernels. So a b-bit grid is written as an *8-bit* fake-quant
whose step equals the b-bit step, after the values are restricted to the b-bit
levels:

* weights: ``levels = clip(round(w / step), -zero_point, 2^b - 1 - zero_point)``,
  then an 8-bit per-channel symmetric narrow-range fake-quant on
  ``[-127 step, 127 step]``;
* activations: clamp to the nudged a-bit range ``[lo, hi]``, then an 8-bit
  fake-quant on ``[lo, lo + 255 step]``.

In Keras both equal the b-bit (a-bit) fake-quant; in the .tflite the int8
tensors carry exactly the b-bit levels.

Why nudged-asymmetric weights and not symmetric: TF's fake-quant nudging makes
zero exactly representable, so the nudged asymmetric grid of a channel is the
set of integer multiples ``k * step`` with ``-zero_point <= k <= 2^b - 1 - zero_point``.
For b <= 7 every ``|k| <= 2^b - 1 <= 127``, so the grid fits a symmetric
(zero point 0) per-channel int8 kernel as it is, and we keep GDFQ's asymmetric
grid with all 2^b levels (one more than a symmetric narrow grid, and no wasted
half-range on skewed channels). At b = 8 an asymmetric grid can need
``|k| = 255``, which int8 cannot hold, so 8-bit weights use TFLite's own
symmetric narrow-range grid (levels -127..127, step = max|w| / 127).

Signed grids (``signed=True``, the ``gdfq_int4`` scheme): the zero point is fixed at ``2^(b-1)``,
so a channel's levels are ``k * step`` with ``-2^(b-1) <= k <= 2^(b-1) - 1`` and
``step = max(-min / 2^(b-1), max / (2^(b-1) - 1))``. The same 2^b levels, but placed
around zero rather than on the channel's range: at b = 4 exactly int4's [-8, 7], so a
packed INT4 filter (``export/int4.py``) holds the student's levels without clipping. The
asymmetric grid's levels reach ``k = 15 - zero_point``, up to 15, which int4 cannot hold.

Rounding: ``tf.round`` rounds half to even; TF's fake-quant rounds half up.
The weight levels are computed by the 8-bit fake-quant itself, so Keras and
LiteRT round the same way.
"""

import tensorflow_model_optimization as tfmot

from autorecon_tf.compat import keras, tf

# Keeps a dead channel (all weights 0) or an unseen activation (range [0, 0]) finite.
_MIN_STEP = 1e-8
INT8_LEVELS = 255
INT8_NARROW_HALF = 127


def nudged_grid(minimum, maximum, num_bits):
    """TF's nudging: (step, zero_point) of the ``num_bits`` grid covering [minimum, maximum].

    ``minimum`` is clipped to <= 0 and ``maximum`` to >= 0 first, so that zero is
    on the grid (TFMOT does the same). Works elementwise on tensors.
    """
    levels = float(2**num_bits - 1)
    minimum = tf.minimum(minimum, 0.0)
    maximum = tf.maximum(maximum, 0.0)
    step = tf.maximum((maximum - minimum) / levels, _MIN_STEP)
    zero_point = tf.clip_by_value(tf.round(-minimum / step), 0.0, levels)
    return step, zero_point


def activation_grid(minimum, maximum, num_bits):
    """``(low, step)`` in float64 of the ``num_bits`` grid that :func:`quantize_activation` puts on [minimum, maximum].

    float64: the grid as exact as the ranges computed from it (the range variables are float32).
    """
    step, zero_point = nudged_grid(tf.cast(minimum, tf.float64), tf.cast(maximum, tf.float64), num_bits)
    return float(-zero_point * step), float(step)


def quantize_activation(inputs, minimum, maximum, num_bits):
    """Per-tensor a-bit asymmetric fake-quant, expressed as clamp + 8-bit fake-quant."""
    step, zero_point = nudged_grid(minimum, maximum, num_bits)
    low = -zero_point * step
    if num_bits == 8:
        # The 8-bit fake-quant clamps (and clips the STE) on [low, low + 255 step] by itself;
        # an explicit clamp would only add MINIMUM/MAXIMUM ops to the .tflite.
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, low, low + INT8_LEVELS * step, num_bits=8, narrow_range=False
        )
    high = (float(2**num_bits - 1) - zero_point) * step
    # The clamp gives the clipped STE (zero gradient outside [low, high]) and, in
    # the .tflite, MINIMUM/MAXIMUM ops that keep the int8 tensor on 2^a levels.
    clamped = tf.minimum(tf.maximum(inputs, low), high)
    return tf.quantization.fake_quant_with_min_max_vars(
        clamped, low, low + INT8_LEVELS * step, num_bits=8, narrow_range=False
    )


def weight_step(kernel_2d, num_bits, signed=False):
    """Per-channel ``(step, zero_point)`` (last axis) of the b-bit grid used for ``kernel_2d``; see the module doc.

    ``zero_point`` is None at b = 8 (symmetric narrow range); ``signed`` fixes it at ``2^(b-1)``.
    """
    reduce_axes = list(range(kernel_2d.shape.rank - 1))
    minimum = tf.reduce_min(kernel_2d, axis=reduce_axes)
    maximum = tf.reduce_max(kernel_2d, axis=reduce_axes)
    if num_bits == 8:
        magnitude = tf.maximum(-minimum, maximum)
        return tf.maximum(magnitude / INT8_NARROW_HALF, _MIN_STEP), None
    if signed:
        half = float(2 ** (num_bits - 1))
        step = tf.maximum(tf.maximum(-minimum / half, maximum / (half - 1.0)), _MIN_STEP)
        return step, tf.fill(tf.shape(step), half)
    return nudged_grid(minimum, maximum, num_bits)


def fine_weight_divisor(num_bits):
    """How many int8 steps one b-bit weight step spans in the export (1 at b = 8).

    A b-bit level ``k`` (``|k| <= 2^b - 1``, see the module doc) is stored as the
    int8 value ``k * 2^(7 - b)``, at most ``128 - 2^(7 - b) <= 127``: still 2^b
    distinct int8 values per channel, but the int8 scale (and with it LiteRT's
    int32 accumulator unit ``input_scale * weight_scale``, to which the bias is
    rounded) is ``2^(7 - b)`` times finer.
    """
    return 1 if num_bits == 8 else 2 ** (7 - num_bits)


def quantize_weight(kernel_2d, num_bits, fake_quant=True, signed=False):
    """Per-channel (last axis) b-bit fake-quant of a kernel, as an 8-bit symmetric fake-quant."""
    step, zero_point = weight_step(tf.stop_gradient(kernel_2d), num_bits, signed)
    step = tf.stop_gradient(step)
    if zero_point is not None:
        low = -zero_point * step
        high = (float(2**num_bits - 1) - zero_point) * step
        # Weights lie in [low - step/2, high + step/2] by construction, so this
        # clamp only moves exact ties at the ends onto the b-bit grid. It is a
        # pure STE (gradient 1 everywhere): the smallest weight of a channel can
        # sit below ``low`` and must still learn.
        kernel_2d = kernel_2d + tf.stop_gradient(tf.minimum(tf.maximum(kernel_2d, low), high) - kernel_2d)
    if not fake_quant:
        # Export of Dense kernels only (see autorecon_tf/export/convert.py): the
        # snapped kernel, constant-folded by the converter, without a fake-quant.
        levels = tf.round(kernel_2d / step)
        return kernel_2d + tf.stop_gradient(levels * step - kernel_2d)
    bound = INT8_NARROW_HALF * step
    return tf.quantization.fake_quant_with_min_max_vars_per_channel(
        kernel_2d, -bound, bound, num_bits=8, narrow_range=True
    )


def fine_int8_weight(kernel_2d, snapped_2d, num_bits, signed=False):
    """Export only: the already quantized kernel ``snapped_2d`` under an 8-bit fake-quant of step
    ``step / fine_weight_divisor(num_bits)`` (``step`` of ``kernel_2d``'s b-bit grid).

    The values are unchanged (each is ``k * step`` with ``|k| <= 2^b - 1``); only the
    int8 scale the converter gives the kernel is finer. ``snapped_2d`` must be a
    constant: a fake-quant applied to the output of another fake-quant is not
    folded by the converter (it falls back to its own per-channel scale).
    """
    step, _ = weight_step(kernel_2d, num_bits, signed)
    bound = INT8_NARROW_HALF * step / fine_weight_divisor(num_bits)
    return tf.quantization.fake_quant_with_min_max_vars_per_channel(
        snapped_2d, -bound, bound, num_bits=8, narrow_range=True
    )


def _check_bits(num_bits):
    if isinstance(num_bits, bool) or not isinstance(num_bits, int) or not 2 <= num_bits <= 8:
        raise ValueError(f"num_bits must be an int in 2..8, got {num_bits!r}")
    return num_bits


@keras.saving.register_keras_serializable(package="autorecon_tf")
class WeightQuantizer(tfmot.quantization.keras.quantizers.Quantizer):
    """Per-output-channel asymmetric b-bit weight quantizer with an STE (GDFQ).

    Args:
      num_bits: weight bit width, 2..8.
      depthwise: the kernel is a DepthwiseConv2D kernel ``(kh, kw, in, multiplier)``,
        whose output channels are ``in * multiplier`` (TFLite's per-channel axis).
      signed: the signed grid of the module doc (levels ``[-2^(b-1), 2^(b-1) - 1]``) instead
        of GDFQ's asymmetric one; at b = 4 it is int4's.

    Example:
      >>> quantizer = WeightQuantizer(4)
      >>> quantizer(tf.constant([[-1.0, 0.5], [0.3, 2.0]]), training=True, weights={})
    """

    def __init__(self, num_bits, depthwise=False, signed=False):
        self.num_bits = _check_bits(num_bits)
        self.depthwise = bool(depthwise)
        self.signed = bool(signed)
        # Set only by export (see ``autorecon_tf.export``): ``fake_quant`` off for
        # Dense kernels; ``export_values`` (this quantizer's own output, computed
        # eagerly) for the others, traced through ``fine_int8_weight``. Neither
        # changes the values.
        self.fake_quant = True
        self.export_values = None

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        if self.export_values is not None:
            snapped = tf.constant(self.export_values, dtype=inputs.dtype)
            if not self.depthwise:
                return fine_int8_weight(tf.stop_gradient(inputs), snapped, self.num_bits, self.signed)
            shape = tf.shape(inputs)
            flat_shape = tf.concat([shape[:2], [-1]], axis=0)
            flat = fine_int8_weight(
                tf.reshape(tf.stop_gradient(inputs), flat_shape),
                tf.reshape(snapped, flat_shape),
                self.num_bits,
                self.signed,
            )
            return tf.reshape(flat, shape)
        if not self.depthwise:
            return quantize_weight(inputs, self.num_bits, self.fake_quant, self.signed)
        shape = tf.shape(inputs)
        flat = tf.reshape(inputs, tf.concat([shape[:2], [-1]], axis=0))
        return tf.reshape(quantize_weight(flat, self.num_bits, self.fake_quant, self.signed), shape)

    def get_config(self):
        config = {"num_bits": self.num_bits, "depthwise": self.depthwise}
        if self.signed:  # absent in files saved before signed grids: they load as GDFQ's
            config["signed"] = True
        return config

    def __eq__(self, other):
        return isinstance(other, WeightQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)


@keras.saving.register_keras_serializable(package="autorecon_tf")
class ActivationQuantizer(tfmot.quantization.keras.quantizers.Quantizer):
    """Per-tensor asymmetric a-bit activation quantizer with EMA min/max ranges (GDFQ).

    Variables (created by :meth:`build`, saved with the model): ``min``, ``max``
    (the EMA range, both 0 until the first update) and ``range_update`` (bool,
    initially true). While ``range_update`` is true every call updates the
    range from the batch: the first call copies ``min(batch)``/``max(batch)``,
    later calls do ``range = momentum * range + (1 - momentum) * batch``. Then
    the input is quantized on the (updated) range. The flag is a variable read
    in the graph, so flipping it with ``set_range_update`` takes effect inside
    an already traced ``tf.function``.

    Args:
      num_bits: activation bit width, 2..8.
      momentum: EMA momentum (GDFQ: 0.9).
      boundary: an 8-bit quantizer on a tensor GDFQ leaves float, added so the
        .tflite computes what Keras does (see ``quantization/boundaries.py``); it
        does not count as the student's activation bit width.
    """

    def __init__(self, num_bits, momentum=0.9, boundary=False):
        self.num_bits = _check_bits(num_bits)
        self.momentum = float(momentum)
        self.boundary = bool(boundary)
        # Set only by export (see ``static_ranges``): trace without the update ops.
        self.static_ranges = False

    def build(self, tensor_shape, name, layer):
        def scalar(suffix, dtype, initial, aggregation):
            return layer.add_weight(
                f"{name}_{suffix}",
                shape=(),
                dtype=dtype,
                trainable=False,
                aggregation=aggregation,
                initializer=keras.initializers.Constant(initial),
            )

        mean = tf.VariableAggregation.MEAN
        return {
            "min": scalar("min", tf.float32, 0.0, mean),
            "max": scalar("max", tf.float32, 0.0, mean),
            "range_update": scalar("range_update", tf.bool, True, tf.VariableAggregation.ONLY_FIRST_REPLICA),
        }

    def _update(self, inputs, weights):
        min_var, max_var = weights["min"], weights["max"]
        batch = tf.stop_gradient(inputs)
        batch_min = tf.minimum(tf.reduce_min(batch), 0.0)
        batch_max = tf.maximum(tf.reduce_max(batch), 0.0)
        # GDFQ's QuantAct treats x_min == x_max (both 0 initially) as "not yet seen".
        first = tf.equal(min_var, max_var)
        keep = self.momentum
        new_min = tf.where(first, batch_min, keep * min_var + (1.0 - keep) * batch_min)
        new_max = tf.where(first, batch_max, keep * max_var + (1.0 - keep) * batch_max)
        return new_min, new_max

    def range(self, inputs, weights):
        """The range used for ``inputs``: updated first if ``range_update`` is on."""
        if self.static_ranges:
            return tf.identity(weights["min"]), tf.identity(weights["max"])
        # No tf.cond around the assigns: under MirroredStrategy an assign to a MEAN-aggregated
        # variable is a cross-replica sync (merge_call), which TF forbids inside control flow.
        new_min, new_max = self._update(inputs, weights)
        update = weights["range_update"]
        return (
            weights["min"].assign(tf.where(update, new_min, weights["min"])),
            weights["max"].assign(tf.where(update, new_max, weights["max"])),
        )

    def __call__(self, inputs, training, weights, **kwargs):
        minimum, maximum = self.range(inputs, weights)
        return quantize_activation(inputs, minimum, maximum, self.num_bits)

    def get_config(self):
        return {"num_bits": self.num_bits, "momentum": self.momentum, "boundary": self.boundary}

    def __eq__(self, other):
        return isinstance(other, ActivationQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)
