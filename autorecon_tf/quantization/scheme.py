"""Where to quantize: GDFQ's placement as a declarative table, a TFMOT registry and scheme.

The table maps a layer type to the weights and activations to quantize ("act.":
the layer's ``activation`` function, quantized if it is in :data:`ACTIVATIONS`):

==========================  ==========================  ==================================
layer type                  weights                     output (a-bit)
==========================  ==========================  ==================================
Conv2D, Dense               kernel (per channel)        after a quantized act.
DepthwiseConv2D             depthwise_kernel            after a quantized act.
SeparableConv2D             depthwise + pointwise       after a quantized act.
ReLU                        -                           always (GDFQ)
Activation                  -                           if act. is quantized
Multiply                    -                           always (squeeze-excite, hard-swish)
BatchNormalization          float (not folded)          float (GDFQ)
Add, Concatenate            -                           float (GDFQ)
Rescaling, Normalization    float (preprocessing)       float (preprocessing)
Dropout, ZeroPadding2D,     -                           float (pass-through)
Reshape, Flatten, pooling,
UpSampling2D
TFOpLambda                  -                           float (a TF op)
==========================  ==========================  ==================================

:data:`ACTIVATIONS`: ReLU and ReLU6 (GDFQ's placement), and swish/SiLU,
hard-swish, sigmoid, hard-sigmoid and GELU, whose output is quantized on an
asymmetric range: the same :class:`ActivationQuantizer`, whose EMA min/max
range has a negative min wherever the activation has negative values (swish,
GELU, hard-swish), not one clamped at 0 (TF's nudging keeps 0 on the grid, so
a negative part under half a step still rounds to 0).
A fused ``relu`` of a Conv2D/DepthwiseConv2D/Dense is quantized by TFMOT after
the activation (``activations=("activation",)``), as before; every other
quantized fused activation (and any of a SeparableConv2D) gets an output
quantizer, which computes the same (TFMOT's own activation wrapper refuses
``relu6`` and quantizes ``sigmoid`` before the sigmoid).

``keras.applications`` builds hard-sigmoid as ``ReLU(6.)(x + 3.) * (1/6)``
(two TFOpLambda layers around a ReLU layer) and hard-swish as
``Multiply()([x, hard_sigmoid(x)])``: the ReLU6 output is quantized (a ReLU
layer), the TF ops stay float (a scaled copy of the ReLU6's grid), and the
Multiply output is quantized.

Layers without weights that are not in the table are left float, as GDFQ
does; so are the input image and the logits. A layer *with* weights that is
not in the table is an error: the scheme cannot quantize it, and silently
leaving it float would misreport the bit width. Lookup is by exact type, so
subclasses such as Conv2DTranspose are not mistaken for Conv2D.

The layout transform does nothing: no BatchNorm folding (GDFQ keeps BN and
trains its affine parameters with running statistics frozen).
"""

import dataclasses

import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.quantize_aware_activation import (
    QuantizeAwareActivation,
)

from autorecon_tf.compat import TFOpLambda, keras
from autorecon_tf.errors import UserError
from autorecon_tf.quantization.configs import LayerQuantizeConfig

# When a row quantizes the layer's output.
NEVER, ALWAYS, IF_ACTIVATION = "never", "always", "if activation"

# Activation function name -> the report's words for its quantized output. tf_keras resolves "silu" to
# swish and has no hard-swish function; "silu", "hard_swish" and "hard_silu" name a user's own functions.
ACTIVATIONS = {
    "relu": "relu (GDFQ)",
    "relu6": "relu6 (GDFQ)",
    "swish": "swish, asymmetric range",
    "silu": "silu, asymmetric range",
    "hard_swish": "hard-swish, asymmetric range",
    "hard_silu": "hard-swish, asymmetric range",
    "sigmoid": "sigmoid, asymmetric range",
    "hard_sigmoid": "hard-sigmoid, asymmetric range",
    "gelu": "gelu, asymmetric range",
}
_RELU_NAMES = ("relu", "relu6")
# Fused activations quantized through TFMOT's QuantizeAwareActivation (after the activation), as GDFQ's ReLU.
_TFMOT_FUSED = ("relu",)
_PASS_THROUGH = "pass-through"
_PREPROCESSING = "preprocessing stays float"


@dataclasses.dataclass(frozen=True)
class LayerPolicy:
    """One row of the table.

    Attributes:
      weights: weight attributes quantized per output channel.
      activations: fused-activation attributes TFMOT quantizes after the
        activation, when that activation is ``relu``.
      output: when the layer output gets an a-bit quantizer: ``NEVER``,
        ``ALWAYS`` or ``IF_ACTIVATION`` (the layer's ``activation`` is in
        :data:`ACTIVATIONS` and not already quantized through ``activations``).
      float_weights: why the layer's weights stay float (a row with weights
        that are not quantized), else "".
      note: the report's word on the output: what is quantized, or why it stays float.
    """

    weights: tuple = ()
    activations: tuple = ()
    output: str = NEVER
    float_weights: str = ""
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Placement:
    """What the scheme quantizes in one layer: weight attributes, fused activations, output."""

    weights: tuple = ()
    activations: tuple = ()
    output: bool = False


def _conv(*weights):
    return LayerPolicy(weights=weights, activations=("activation",), output=IF_ACTIVATION)


def _float(note, float_weights=""):
    return LayerPolicy(float_weights=float_weights, note=note)


GDFQ_TABLE = {
    keras.layers.Conv2D: _conv("kernel"),
    keras.layers.DepthwiseConv2D: _conv("depthwise_kernel"),
    keras.layers.SeparableConv2D: LayerPolicy(weights=("depthwise_kernel", "pointwise_kernel"), output=IF_ACTIVATION),
    keras.layers.Dense: _conv("kernel"),
    keras.layers.ReLU: LayerPolicy(output=ALWAYS, note="ReLU (GDFQ)"),
    keras.layers.Activation: LayerPolicy(output=IF_ACTIVATION),
    keras.layers.Multiply: LayerPolicy(output=ALWAYS, note="product (squeeze-excite or hard-swish), asymmetric range"),
    keras.layers.BatchNormalization: _float(
        "GDFQ leaves the output of BatchNormalization float", "GDFQ keeps BatchNormalization float (not folded)"
    ),
    keras.layers.Add: _float("GDFQ leaves the output of Add float"),
    keras.layers.Concatenate: _float("GDFQ leaves the output of Concatenate float"),
    keras.layers.Rescaling: _float(_PREPROCESSING),
    keras.layers.Normalization: _float(_PREPROCESSING, _PREPROCESSING),
    keras.layers.Dropout: _float(_PASS_THROUGH),
    keras.layers.ZeroPadding2D: _float(_PASS_THROUGH),
    keras.layers.Reshape: _float(_PASS_THROUGH),
    keras.layers.Flatten: _float(_PASS_THROUGH),
    keras.layers.UpSampling2D: _float(_PASS_THROUGH),
    keras.layers.MaxPooling2D: _float(_PASS_THROUGH),
    keras.layers.AveragePooling2D: _float(_PASS_THROUGH),
    keras.layers.GlobalAveragePooling2D: _float(_PASS_THROUGH),
    keras.layers.GlobalMaxPooling2D: _float(_PASS_THROUGH),
    keras.layers.InputLayer: _float("the input image stays float (GDFQ)"),
    TFOpLambda: _float("a TF op: left float"),
}


def activation_name(function):
    """The name the table knows an activation function by (``None`` for none); sees through TFMOT's wrapper."""
    if isinstance(function, QuantizeAwareActivation):
        function = function.activation
    return getattr(function, "__name__", None) if function is not None else None


def is_relu(function):
    """True for the ReLU activation functions after which GDFQ quantizes."""
    return activation_name(function) in _RELU_NAMES


def is_plain_relu(layer):
    """True for a ReLU layer or ``Activation("relu")`` that LiteRT fuses into its producer's kernel.

    A ReLU with ``max_value`` (ReLU6), a threshold or a slope becomes RELU/MINIMUM ops of its own.
    """
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is None and not float(layer.threshold) and not float(layer.negative_slope)
    return isinstance(layer, keras.layers.Activation) and activation_name(layer.activation) == "relu"


# Layers whose fused activation the student splits off into an Activation layer of its own (see
# ``splits_activation``).
_SPLIT_KINDS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Dense)


def splits_activation(layer):
    """True if the student gives ``layer``'s fused activation a layer of its own (``student.split_activations``).

    LiteRT fuses only ReLU into CONV_2D/FULLY_CONNECTED; a sigmoid, swish, GELU or ReLU6 runs
    as an op of its own, whose int8 input (the pre-activation) needs a range of its own. As a
    separate ``Activation`` layer it gets one (``boundaries.float_boundaries``), where a fused
    activation hid that tensor inside the layer and the converter mixed a calibrated scale with
    the fake-quantized ones (the next layer's bias 15/255 of its true scale).
    """
    function = activation_name(getattr(layer, "activation", None))
    return type(layer) in _SPLIT_KINDS and function not in (None, "linear", *_TFMOT_FUSED)


def table_row(layer, table=None):
    """The row of ``layer``'s exact type; UserError if it has weights and no row; None if it has neither."""
    table = GDFQ_TABLE if table is None else table
    # A subclass of ours that quantizes as its base class names it (bias_grid.GridBiasBatchNormalization).
    row = table.get(getattr(type(layer), "quantize_as", type(layer)))
    if row is None and layer.weights:
        known = sorted(kind.__name__ for kind, entry in table.items() if entry.weights or entry.float_weights)
        raise UserError(
            f"layer {layer.name!r} ({type(layer).__name__}) has weights but the quantization scheme has no "
            f"entry for it (supported: {', '.join(known)}); replace the layer"
        )
    return row


def is_activation(layer, table=None):
    """True if ``layer``'s output is an activation the report counts: its row always quantizes it, or the
    row follows the layer's ``activation`` and that is not linear (quantized or not, e.g. a softmax)."""
    row = table_row(layer, table)
    if row is None or row.output == NEVER:
        return False
    return row.output == ALWAYS or activation_name(getattr(layer, "activation", None)) not in (None, "linear")


def output_note(layer, table=None):
    """The report's word on ``layer``'s output: what its row quantizes, or why it stays float."""
    row = table_row(layer, table)
    if row is None:
        return "no weights, not in the scheme's table: left float"
    if row.output != IF_ACTIVATION:
        return row.note
    name = activation_name(getattr(layer, "activation", None))
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    if name in (None, "linear"):
        return "linear output: GDFQ leaves it float"
    return f"activation {name!r} is not in the scheme's table: left float"


class GdfqQuantizeRegistry(tfmot.quantization.keras.QuantizeRegistry):
    """Turns a table row into a :class:`LayerQuantizeConfig` for one layer.

    Args:
      weight_bits, activation_bits: bit widths (validated by ``build_student``).
      table: layer type -> :class:`LayerPolicy`; :data:`GDFQ_TABLE` by default.
      momentum: EMA momentum of the activation ranges.
      signed_weights: signed weight grids instead of GDFQ's asymmetric ones (``quantizers.py``).
    """

    def __init__(self, weight_bits, activation_bits, table=None, momentum=0.9, signed_weights=False):
        self.weight_bits = weight_bits
        self.activation_bits = activation_bits
        self.table = dict(GDFQ_TABLE if table is None else table)
        self.momentum = momentum
        self.signed_weights = signed_weights

    def policy(self, layer, quantize_weights=True):
        """The :class:`Placement` actually applied to ``layer`` (activation filtering done); UserError if unknown."""
        row = table_row(layer, self.table)
        if row is None:
            return Placement()
        activations = tuple(a for a in row.activations if activation_name(getattr(layer, a, None)) in _TFMOT_FUSED)
        function = activation_name(getattr(layer, "activation", None))
        output = row.output == ALWAYS or (row.output == IF_ACTIVATION and not activations and function in ACTIVATIONS)
        return Placement(row.weights if quantize_weights else (), activations, output)

    def get_quantize_config(self, layer, quantize_weights=True):
        policy = self.policy(layer, quantize_weights)
        if not (policy.weights or policy.activations or policy.output):
            return None
        return LayerQuantizeConfig(
            policy.weights,
            policy.activations,
            policy.output,
            self.weight_bits,
            self.activation_bits,
            self.momentum,
            signed_weights=self.signed_weights,
        )

    def supports(self, layer):
        # quantize_apply asks this for un-annotated producers of annotated layers
        # (e.g. the BatchNorm before a ReLU): those must stay float.
        return False


class NoOpLayoutTransform(tfmot.quantization.keras.QuantizeLayoutTransform):
    """GDFQ keeps the float graph as it is: no BatchNorm folding, no op fusion."""

    def apply(self, model, layer_quantize_map):
        return model, layer_quantize_map


class GdfqQuantizeScheme(tfmot.quantization.keras.QuantizeScheme):
    """GDFQ's placement (see the module docstring) at the given bit widths."""

    signed_weights = False

    def __init__(self, weight_bits, activation_bits, momentum=0.9):
        self.registry = GdfqQuantizeRegistry(
            weight_bits, activation_bits, momentum=momentum, signed_weights=self.signed_weights
        )

    def get_layout_transformer(self):
        return NoOpLayoutTransform()

    def get_quantize_registry(self):
        return self.registry


class GdfqInt4QuantizeScheme(GdfqQuantizeScheme):
    """GDFQ's placement with signed weight grids: at W4 every weight level fits int4's [-8, 7].

    For students exported with ``--weights=int4`` (``export/int4.py``), whose packed INT4 filters
    then hold exactly the student's levels. At W <= 3 GDFQ's asymmetric grids already fit.
    """

    signed_weights = True


SCHEMES = {"gdfq": GdfqQuantizeScheme, "gdfq_int4": GdfqInt4QuantizeScheme}


def get_scheme(name, weight_bits, activation_bits):
    if name not in SCHEMES:
        raise UserError(f"unknown quantization scheme {name!r}: use one of {sorted(SCHEMES)}")
    return SCHEMES[name](weight_bits, activation_bits)
