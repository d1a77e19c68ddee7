"""The one TFMOT ``QuantizeConfig`` of the project: a row of the scheme's table, bound to bit widths.

A :class:`LayerQuantizeConfig` says which weight attributes of a layer get a
:class:`~autorecon_tf.quantization.quantizers.WeightQuantizer`, which activation
attributes (a fused ``relu`` of a Conv2D/Dense) and whether the layer output (a
ReLU, swish, ... layer, a Multiply, a Conv2D with another fused activation) get
an :class:`~autorecon_tf.quantization.quantizers.ActivationQuantizer`.
The scheme (:mod:`autorecon_tf.quantization.scheme`) decides this per layer;
this class only carries it out and serialises it with the model.
"""

import tensorflow_model_optimization as tfmot

from autorecon_tf.compat import keras
from autorecon_tf.quantization.quantizers import ActivationQuantizer, WeightQuantizer


@keras.saving.register_keras_serializable(package="autorecon_tf")
class LayerQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Quantizes the named weights, activations and/or the output of one layer.

    Args:
      weight_attrs: names of weight attributes (``"kernel"``, ``"depthwise_kernel"``,
        ``"pointwise_kernel"``); a ``depthwise_kernel`` (DepthwiseConv2D,
        SeparableConv2D) is quantized per ``in * multiplier`` channel.
      activation_attrs: names of activation attributes quantized after the
        activation (only given for ``relu``, which TFMOT's activation wrapper handles).
      quantize_output: quantize the layer's output (activation layers, Multiply,
        layers with another quantized fused activation).
      weight_bits: weight bit width, 2..8.
      activation_bits: activation bit width, 2..8.
      momentum: EMA momentum of the activation ranges.
      boundary_output: quantize the layer's output at 8 bits as an int8
        boundary (``quantization/boundaries.py``) instead of at ``activation_bits``.
      signed_weights: signed weight grids (``quantizers.py``; the ``gdfq_int4`` scheme).
    """

    def __init__(
        self,
        weight_attrs=(),
        activation_attrs=(),
        quantize_output=False,
        weight_bits=8,
        activation_bits=8,
        momentum=0.9,
        boundary_output=False,
        signed_weights=False,
    ):
        self.boundary_output = bool(boundary_output)
        self.signed_weights = bool(signed_weights)
        self.weight_attrs = tuple(weight_attrs)
        self.activation_attrs = tuple(activation_attrs)
        self.quantize_output = bool(quantize_output)
        self.weight_bits = int(weight_bits)
        self.activation_bits = int(activation_bits)
        self.momentum = float(momentum)

    def get_weights_and_quantizers(self, layer):
        return [
            (getattr(layer, attr), WeightQuantizer(self.weight_bits, attr == "depthwise_kernel", self.signed_weights))
            for attr in self.weight_attrs
        ]

    def get_activations_and_quantizers(self, layer):
        return [
            (getattr(layer, attr), ActivationQuantizer(self.activation_bits, self.momentum))
            for attr in self.activation_attrs
        ]

    def set_quantize_weights(self, layer, quantize_weights):
        for attr, weight in zip(self.weight_attrs, quantize_weights, strict=True):
            setattr(layer, attr, weight)

    def set_quantize_activations(self, layer, quantize_activations):
        for attr, activation in zip(self.activation_attrs, quantize_activations, strict=True):
            setattr(layer, attr, activation)

    def get_output_quantizers(self, layer):
        if self.boundary_output:
            return [ActivationQuantizer(8, self.momentum, boundary=True)]
        if self.quantize_output:
            return [ActivationQuantizer(self.activation_bits, self.momentum)]
        return []

    def get_config(self):
        return {
            "weight_attrs": list(self.weight_attrs),
            "activation_attrs": list(self.activation_attrs),
            "quantize_output": self.quantize_output,
            "weight_bits": self.weight_bits,
            "activation_bits": self.activation_bits,
            "momentum": self.momentum,
            "boundary_output": self.boundary_output,
            "signed_weights": self.signed_weights,
        }

    def __eq__(self, other):
        return isinstance(other, LayerQuantizeConfig) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)
