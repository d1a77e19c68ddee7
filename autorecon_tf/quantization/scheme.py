"""Where to quantize: GDFQ's placement as a declarative table, a TFMOT registry and scheme.

The table maps a layer type to the weights and activations to quantize:

======================  =====================  ===============================
layer type              weights                activations
======================  =====================  ===============================
Conv2D                  kernel (per channel)   fused ``activation`` if ReLU
DepthwiseConv2D         depthwise_kernel       fused ``activation`` if ReLU
Dense                   kernel (per channel)   fused ``activation`` if ReLU
ReLU                    -                      output
Activation              -                      output if ReLU
BatchNormalization      - (not folded)         -
======================  =====================  ===============================

Layers without weights that are not in the table (Add, pooling, Flatten,
padding, ...) are left alone, as GDFQ does; so are the input image and the
logits. A layer *with* weights that is not in the table is an error: the
scheme cannot quantize it, and silently leaving it float would misreport the
bit width. Lookup is by exact type, so subclasses such as SeparableConv2D or
Conv2DTranspose are not mistaken for Conv2D.

The layout transform does nothing: no BatchNorm folding (GDFQ keeps BN and
trains its affine parameters with running statistics frozen).
"""

import dataclasses

import tensorflow_model_optimization as tfmot

from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.quantization.configs import LayerQuantizeConfig

_RELU_NAMES = ("relu", "relu6")


@dataclasses.dataclass(frozen=True)
class LayerPolicy:
    """One row of the table: weight attributes, fused-activation attributes, output flag."""

    weights: tuple = ()
    activations: tuple = ()
    output: bool = False


GDFQ_TABLE = {
    keras.layers.Conv2D: LayerPolicy(weights=("kernel",), activations=("activation",)),
    keras.layers.DepthwiseConv2D: LayerPolicy(weights=("depthwise_kernel",), activations=("activation",)),
    keras.layers.Dense: LayerPolicy(weights=("kernel",), activations=("activation",)),
    keras.layers.ReLU: LayerPolicy(output=True),
    keras.layers.Activation: LayerPolicy(output=True),
    keras.layers.BatchNormalization: LayerPolicy(),
}


def is_relu(function):
    """True for the ReLU activation functions after which GDFQ quantizes."""
    return getattr(function, "__name__", "") in _RELU_NAMES


class GdfqQuantizeRegistry(tfmot.quantization.keras.QuantizeRegistry):
    """Turns a table row into a :class:`LayerQuantizeConfig` for one layer.

    Args:
      weight_bits, activation_bits: bit widths (validated by ``build_student``).
      table: layer type -> :class:`LayerPolicy`; :data:`GDFQ_TABLE` by default.
      momentum: EMA momentum of the activation ranges.
    """

    def __init__(self, weight_bits, activation_bits, table=None, momentum=0.9):
        self.weight_bits = weight_bits
        self.activation_bits = activation_bits
        self.table = dict(GDFQ_TABLE if table is None else table)
        self.momentum = momentum

    def policy(self, layer, quantize_weights=True):
        """The policy actually applied to ``layer`` (ReLU filtering done); UserError if unknown."""
        row = self.table.get(type(layer))
        if row is None:
            if layer.weights:
                raise UserError(
                    f"layer {layer.name!r} ({type(layer).__name__}) has weights but the quantization scheme has no "
                    f"entry for it (supported: {', '.join(sorted(t.__name__ for t in self.table))}); replace the layer"
                )
            return LayerPolicy()
        activations = tuple(a for a in row.activations if is_relu(getattr(layer, a, None)))
        output = row.output and (isinstance(layer, keras.layers.ReLU) or is_relu(getattr(layer, "activation", None)))
        return LayerPolicy(row.weights if quantize_weights else (), activations, output)

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

    def __init__(self, weight_bits, activation_bits, momentum=0.9):
        self.registry = GdfqQuantizeRegistry(weight_bits, activation_bits, momentum=momentum)

    def get_layout_transformer(self):
        return NoOpLayoutTransform()

    def get_quantize_registry(self):
        return self.registry


SCHEMES = {"gdfq": GdfqQuantizeScheme}


def get_scheme(name, weight_bits, activation_bits):
    if name not in SCHEMES:
        raise UserError(f"unknown quantization scheme {name!r}: use one of {sorted(SCHEMES)}")
    return SCHEMES[name](weight_bits, activation_bits)
