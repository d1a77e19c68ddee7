"""The export graph: the student plus 8-bit fake-quants on the tensors GDFQ leaves float.

GDFQ quantizes weights and ReLU outputs only. A fully-integer .tflite also needs
int8 ranges for the other tensors that reach a kernel boundary: the input image,
BatchNorm outputs entering a residual Add, Add outputs not followed by a
quantized ReLU, pooling outputs and the logits. Given a model with fake-quants
on *some* tensors plus a representative dataset, the TF 2.21 converter does
convert, but produced wrong int8 arithmetic for Conv -> BN -> Add (the folded
BN's bias scale disagreed with its kernel; on a tiny ResNet the Keras/LiteRT
top-1 agreement was 58%). The fully fake-quantized graph is the path the
converter is built for (TFMOT's default scheme produces it), so export adds
8-bit fake-quants on exactly those tensors: which ones is
``quantization/boundaries.py``'s answer, their ranges ``quantization/ranges.py``'s
(``export_ranges``). Deployment-faithful students (``int8_boundaries=True``)
already carry 8-bit quantizers on those tensors and on their input; for them
export adds only the pooling ranges.

Tensors that the converter fuses away are left alone: a Conv/Dense output
feeding its BatchNorm (folded), and any tensor consumed only by quantized ReLUs
(the ReLU and its a-bit fake-quant are fused into the producer). The added
fake-quants are TFMOT ``QuantizeLayer(FixedQuantizer)`` layers, used only in
this trace; the Keras student itself is not changed (``quantization/ranges.py``
and ``convert.py`` read its ranges under ``static_ranges``, never updating them).
"""

from autorecon_tf.export.affine import rescaling_affines
from autorecon_tf.quantization.boundaries import input_quantize_layer
from autorecon_tf.quantization.ranges import POOL_INPUT
from autorecon_tf.utils.functional import INPUT, rebuild


def build_export_model(student, ranges):
    """The student's layers (shared weights) re-called, with 8-bit fake-quants for ``ranges``.

    Each float ``Rescaling`` (the generator-space adapter) is called as its exact 1x1 depthwise affine
    (``export/affine.py``: as MUL and ADD the converter put the adapter's input on a step of about 1).
    ``ranges``: ``{layer name, INPUT or POOL_INPUT + pooling layer name: (min, max)}``
    (``ranges.export_ranges``); a ``POOL_INPUT`` range quantizes that layer's input.
    """
    after, before = {}, {}
    for name, value_range in ranges.items():
        if name.startswith(POOL_INPUT):
            layer_name = name[len(POOL_INPUT) :]
            before[layer_name] = input_quantize_layer(value_range, name=f"export_fq_{layer_name}_input")
        else:
            after[name] = input_quantize_layer(value_range, name=f"export_fq_{'input' if name == INPUT else name}")
    return rebuild(
        student, after=after, before=before, replace=rescaling_affines(student), name=f"{student.name}_export"
    )[0]
