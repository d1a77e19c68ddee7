"""What a student really quantizes, layer by layer: the bit width of every weight and output, or why it is float.

:func:`quantization_report` reads the quantizers a student holds (not the table's
intent), so a bit width it shows is one the student computes with; the words on a
float weight or output come from the scheme's table (``quantization/scheme.py``).
One :class:`LayerRow` per layer of the student, in graph order, named as in the
teacher, and a summary: the share of weight layers (Conv2D, DepthwiseConv2D,
SeparableConv2D, Dense) and of parameters quantized, the share of activations
quantized at the student's activation bit width (8-bit int8 boundaries counted
apart), and the student's bit widths.

``report.to_dict()`` is plain JSON (for ``metrics.json``); ``report.render()`` is a
text table for printing.

Example:
  >>> report = quantization_report(build_student(teacher, 4, 4))
  >>> print(report.render())
"""

import dataclasses

import numpy as np
from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import QuantizeLayer

from autorecon_tf.compat import TFOpLambda
from autorecon_tf.errors import UserError
from autorecon_tf.quantization import scheme
from autorecon_tf.quantization.boundaries import unwrapped
from autorecon_tf.quantization.student import quantize_wrappers

FLOAT = "float"
_BOUNDARY = "int8 boundary (8-bit; what the fully-integer .tflite stores)"
_INPUT_BOUNDARY = "input int8 boundary (the .tflite's QUANTIZE)"
_FIRST_LAST = "first/last weight layer: quantize_first_last=False"


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One layer of a student.

    Attributes:
      name: the layer's name in the teacher (a wrapper's inner layer).
      type: its class name (a TFOpLambda with its TF function).
      weight_bits: the bit width of its quantized weights, ``"float"``, or None (no weights).
      weight_note: which weights are quantized, or why they stay float.
      output_bits: the bit width its output is quantized at, or ``"float"``.
      output_note: what is quantized there, or why it stays float.
      output_boundary: the output quantizer is an 8-bit int8 boundary (``int8_boundaries=True``),
        not the student's activation bit width.
      parameters: number of weights of the layer (quantizer variables not counted).
      quantized_parameters: how many of them are quantized.
      weight_layer: the table quantizes this type's weights (the summary's weight layers).
      activation: its output is an activation (the summary's activations; see ``scheme.is_activation``).
    """

    name: str
    type: str
    weight_bits: object
    weight_note: str
    output_bits: object
    output_note: str
    output_boundary: bool = False
    parameters: int = 0
    quantized_parameters: int = 0
    weight_layer: bool = False
    activation: bool = False

    def to_dict(self):
        return dataclasses.asdict(self)


def _share(part, whole):
    return round(part / whole, 4) if whole else None


@dataclasses.dataclass(frozen=True)
class QuantizationReport:
    """Per-layer rows and a summary of what a student quantizes; see the module docstring."""

    rows: tuple

    def summary(self):
        """Counts and shares (None where there is nothing to count); JSON-ready."""
        weight_rows = [row for row in self.rows if row.weight_layer]
        activations = [row for row in self.rows if row.activation]
        weight_bits = {row.weight_bits for row in weight_rows if row.weight_bits != FLOAT}
        lowbit = [row for row in activations if row.output_bits != FLOAT and not row.output_boundary]
        activation_bits = {row.output_bits for row in lowbit}
        quantized_weights = sum(row.weight_bits != FLOAT for row in weight_rows)
        quantized_activations = len(lowbit)
        parameters = sum(row.parameters for row in self.rows)
        quantized_parameters = sum(row.quantized_parameters for row in self.rows)
        return {
            "weight_bits": sorted(weight_bits),
            "activation_bits": sorted(activation_bits),
            "weight_layers": len(weight_rows),
            "weight_layers_quantized": quantized_weights,
            "weight_layer_share": _share(quantized_weights, len(weight_rows)),
            "parameters": parameters,
            "parameters_quantized": quantized_parameters,
            "parameter_share": _share(quantized_parameters, parameters),
            "activations": len(activations),
            "activations_quantized": quantized_activations,
            "activation_share": _share(quantized_activations, len(activations)),
            "int8_boundaries": sum(row.output_boundary for row in self.rows),
        }

    def to_dict(self):
        return {"layers": [row.to_dict() for row in self.rows], "summary": self.summary()}

    def render(self):
        """A text table: one line per layer, then the summary."""
        lines = [("layer", "type", "weights", "output")]
        for row in self.rows:
            lines.append(
                (row.name, row.type, _cell(row.weight_bits, row.weight_note), _cell(row.output_bits, row.output_note))
            )
        widths = [max(len(line[column]) for line in lines) for column in range(3)]
        text = [
            "  ".join(cell.ljust(width) for cell, width in zip(line[:3], widths)) + "  " + line[3] for line in lines
        ]
        return "\n".join([*text, "", *summary_lines(self.summary())])


def _cell(bits, note):
    if bits is None:
        return "-"
    bits = bits if bits == FLOAT else f"{bits}-bit"
    return f"{bits}: {note}" if note else bits


def _percent(share):
    return "-" if share is None else f"{100 * share:.1f}%"


def summary_lines(summary):
    bits = "/".join(str(b) for b in summary["weight_bits"]) or "-"
    activation_bits = "/".join(str(b) for b in summary["activation_bits"]) or "-"
    return [
        f"weights: {summary['weight_layers_quantized']}/{summary['weight_layers']} weight layers quantized "
        f"({_percent(summary['weight_layer_share'])}), {_percent(summary['parameter_share'])} of "
        f"{summary['parameters']} parameters, at {bits} bits",
        f"activations: {summary['activations_quantized']}/{summary['activations']} quantized "
        f"({_percent(summary['activation_share'])}) at {activation_bits} bits; "
        f"{summary['int8_boundaries']} int8 boundaries at 8 bits",
    ]


def _size(weight):
    return int(np.prod(weight.shape))


def _weights(layer, inner, table):
    """``(bits, note, parameters, quantized parameters)`` of one student layer's weights."""
    quantized = getattr(layer, "_weight_vars", None) or []
    # A wrapped layer's quantized attributes hold the fake-quantized tensors, so its
    # ``weights`` list only the others (the bias); the wrapper keeps the variables.
    quantized_parameters = sum(_size(weight) for weight, _, _ in quantized)
    parameters = quantized_parameters + sum(_size(weight) for weight in inner.weights)
    if quantized:
        (bits,) = {quantizer.num_bits for _, quantizer, _ in quantized}
        note = ", ".join(layer.quantize_config.weight_attrs) + ", per channel"
        return bits, note, parameters, quantized_parameters
    if not inner.weights:
        return None, "", 0, 0
    row = scheme.table_row(inner, table)
    return FLOAT, (row.float_weights or _FIRST_LAST), parameters, 0


def _output(layer, inner, table):
    """``(bits, note, boundary)`` of one student layer's output."""
    quantizers = list(getattr(layer, "_output_quantizers", None) or [])
    quantizers += [
        activation.quantizer
        for activation in getattr(layer, "_quantize_activations", None) or []
        if activation._should_post_quantize()
    ]
    if not quantizers:
        return FLOAT, scheme.output_note(inner, table), False
    (quantizer,) = quantizers
    if getattr(quantizer, "boundary", False):
        return quantizer.num_bits, _BOUNDARY, True
    return quantizer.num_bits, scheme.output_note(inner, table), False


def _type(inner):
    if isinstance(inner, TFOpLambda):
        return f"TFOpLambda({inner.get_config()['function']})"
    return type(inner).__name__


def layer_row(layer, table=None):
    """The :class:`LayerRow` of one layer of a student (a TFMOT wrapper, a QuantizeLayer or a float layer)."""
    if isinstance(layer, QuantizeLayer):  # the input fake-quant of a deployment-faithful student
        bits = layer.quantizer.get_config()["num_bits"]
        return LayerRow(layer.name, type(layer).__name__, None, "", bits, _INPUT_BOUNDARY, output_boundary=True)
    inner = unwrapped(layer)
    weight_bits, weight_note, parameters, quantized = _weights(layer, inner, table)
    row = scheme.table_row(inner, table)
    return LayerRow(
        inner.name,
        _type(inner),
        weight_bits,
        weight_note,
        *_output(layer, inner, table),  # output_bits, output_note, output_boundary
        parameters,
        quantized,
        weight_layer=bool(row and row.weights),
        activation=row is not None and scheme.is_activation(inner, table),
    )


def quantization_report(student, table=None):
    """The :class:`QuantizationReport` of ``student`` (from ``build_student``; UserError for a float model).

    Args:
      student: a functional Keras model.
      table: the scheme's table the notes come from; ``scheme.GDFQ_TABLE`` by default.
    """
    if not quantize_wrappers(student):
        raise UserError(f"model {student.name!r} holds no quantizer: report on a student from build_student")
    return QuantizationReport(tuple(layer_row(layer, table) for layer in student.layers))
