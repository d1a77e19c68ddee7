"""Checks, from the .tflite itself, that the int8 tensors hold the student's b-bit grids.

* Kernels: every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED weight tensor
  may use at most 2^w distinct int8 values per output channel (its quantized
  dimension). Packed INT4 filters (``--weights=int4``, :mod:`autorecon_tf.export.int4`) are
  read from the flatbuffer and unpacked as LiteRT unpacks them. The export's exact affines
  (:mod:`autorecon_tf.export.affine`: the raw-pixel preprocessing and a float Rescaling such as the
  generator-space adapter, each a 1x1 DEPTHWISE_CONV_2D) are not student b-bit layers and are left out.
* Activations: each quantized ReLU becomes ``CONV_2D/ADD (fused ReLU) -> MINIMUM``
  in the .tflite, the MINIMUM being the clamp to the a-bit range. Running the
  interpreter with ``experimental_preserve_all_tensors=True`` (and no delegate,
  whose internal tensors are not readable) on real or generated inputs, every
  MINIMUM output may carry at most 2^a distinct int8 values.
"""

import numpy as np

from autorecon_tf.export.affine import is_exact_affine_filter
from autorecon_tf.export.int4 import read_int4_filters
from autorecon_tf.export.runtime import make_interpreter, ops_details, quantize_input

KERNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
CLAMP_OP = "MINIMUM"


def _levels_per_channel(values, axis):
    moved = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
    return [len(np.unique(channel)) for channel in moved]


def kernel_levels(interpreter, int4_filters=None):
    """``{weight tensor name: max distinct values over output channels}`` for every kernel op.

    ``int4_filters``: :func:`~autorecon_tf.export.int4.read_int4_filters` of the same file (the
    interpreter does not hand out INT4 tensors); their ``dtype`` is ``"int4"``.
    """
    int4_filters = int4_filters or {}
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    result = {}
    for op in ops_details(interpreter):
        if op["op_name"] not in KERNEL_OPS:
            continue
        detail = details[op["inputs"][1]]
        if is_exact_affine_filter(detail["name"]):
            continue
        if detail["name"] in int4_filters:
            _, values, _ = int4_filters[detail["name"]]
            dtype = "int4"
        else:
            values = interpreter.get_tensor(detail["index"])
            dtype = values.dtype.name
        axis = int(detail["quantization_parameters"]["quantized_dimension"])
        if len(detail["quantization_parameters"]["scales"]) <= 1:
            axis = 0 if op["op_name"] != "DEPTHWISE_CONV_2D" else values.ndim - 1
        result[detail["name"]] = {
            "op": op["op_name"],
            "dtype": dtype,
            "max_levels": max(_levels_per_channel(values, axis)),
        }
    return result


def activation_levels(interpreter, images):
    """``{clamp output name: distinct int8 values}`` over ``images`` (one batch)."""
    input_index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_index, quantize_input(interpreter, images))
    interpreter.invoke()
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    return {
        details[op["outputs"][0]]["name"]: len(np.unique(interpreter.get_tensor(op["outputs"][0])))
        for op in ops_details(interpreter)
        if op["op_name"] == CLAMP_OP
    }


def check_grids(tflite_model, weight_bits, activation_bits, images, expected_activations=None):
    """The grid report of a .tflite (path or bytes); ``passed`` is true when every count is in bounds.

    Args:
      tflite_model: path or flatbuffer bytes.
      weight_bits, activation_bits: the student's bit widths.
      images: float32 NHWC inputs to run (a few hundred are plenty).
      expected_activations: number of activation quantizers in the student; if
        given, the number of clamps found must match it (a-bit < 8 only: at 8
        bits the clamp is a no-op the converter may drop).
    """
    interpreter = make_interpreter(tflite_model, preserve_all_tensors=True, delegates=False)
    kernels = kernel_levels(interpreter, read_int4_filters(tflite_model))
    activations = activation_levels(interpreter, np.asarray(images, np.float32))
    kernels_ok = all(k["dtype"] in ("int8", "int4") and k["max_levels"] <= 2**weight_bits for k in kernels.values())
    activations_ok = all(levels <= 2**activation_bits for levels in activations.values())
    count_ok = expected_activations is None or activation_bits == 8 or len(activations) == expected_activations
    return {
        "passed": bool(kernels and kernels_ok and activations_ok and count_ok),
        "weight_bits": weight_bits,
        "activation_bits": activation_bits,
        "kernels": kernels,
        "max_kernel_levels": max((k["max_levels"] for k in kernels.values()), default=0),
        "activations": activations,
        "max_activation_levels": max(activations.values(), default=0),
        "activation_tensors_found": len(activations),
        "activation_tensors_expected": expected_activations,
    }
