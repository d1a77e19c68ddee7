"""LiteRT runtime: interpreters, batched runs with the int8 input/output scaling, a .tflite's accuracy.

This is the one module that touches the interpreter's private API (:func:`ops_details`).
"""

import os

import numpy as np

from autorecon_tf.compat import native_logs_silenced
from autorecon_tf.errors import UserError
from autorecon_tf.evaluation import topk_accuracy
from autorecon_tf.export.affine import PREPROCESSING_LAYER


def make_interpreter(model, preserve_all_tensors=False, num_threads=None, delegates=True):
    """A LiteRT interpreter for a path or flatbuffer bytes; delegates off to read intermediates."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    source = {"model_path": os.fspath(model)} if isinstance(model, (str, os.PathLike)) else {"model_content": model}
    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        with native_logs_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = Interpreter(
                **source,
                num_threads=num_threads,
                experimental_preserve_all_tensors=preserve_all_tensors,
                experimental_op_resolver_type=resolver,
            )
            interpreter.allocate_tensors()
    except ValueError as error:
        raise UserError(f"{source.get('model_path', '<bytes>')!r} is not a valid .tflite model ({error})") from error
    return interpreter


def ops_details(interpreter):
    """The interpreter's ops (``op_name``, ``inputs``, ``outputs`` tensor indices); LiteRT has no public call for it."""
    return interpreter._get_ops_details()


def kernel_backends(interpreter):
    """``{op index: "XNNPACK" or "builtin"}`` for the model's ops under ``interpreter``'s delegates.

    A delegated partition appears as one DELEGATE node whose inputs and outputs bound it; the ops
    found walking back from its outputs to its inputs (through producers) are the ones it took.
    """
    ops = ops_details(interpreter)
    model_ops = {op["index"]: op for op in ops if op["op_name"] != "DELEGATE"}
    producer = {int(tensor): index for index, op in model_ops.items() for tensor in op["outputs"]}
    delegated = set()
    for node in ops:
        if node["op_name"] != "DELEGATE":
            continue
        boundary = {int(tensor) for tensor in node["inputs"]}
        pending = [int(tensor) for tensor in node["outputs"]]
        while pending:
            tensor = pending.pop()
            index = producer.get(tensor)
            if tensor in boundary or index is None or index in delegated:
                continue
            delegated.add(index)
            pending.extend(int(source) for source in model_ops[index]["inputs"] if source >= 0)
    return {index: ("XNNPACK" if index in delegated else "builtin") for index in model_ops}


def quantize_input(interpreter, images):
    """Float ``images`` as the interpreter's input tensor: unchanged for a float32 input, else int8 on its scale."""
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] == np.float32:
        return images.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return np.clip(np.round(images / scale + zero_point), -128, 127).astype(detail["dtype"])


def _dequantize_output(interpreter, values):
    detail = interpreter.get_output_details()[0]
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def run_tflite(model, images, batch_size=256, interpreter=None, progress=None):
    """Float outputs of a .tflite (path, bytes or interpreter) on float ``images``, batched.

    ``progress``: an ``IntervalProgress`` told the images done after each batch (long passes).
    """
    interpreter = interpreter or make_interpreter(model)
    input_index = interpreter.get_input_details()[0]["index"]
    outputs = []
    current = None
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        if current != len(batch):
            interpreter.resize_tensor_input(input_index, [len(batch), *batch.shape[1:]])
            interpreter.allocate_tensors()
            current = len(batch)
        interpreter.set_tensor(input_index, quantize_input(interpreter, batch))
        interpreter.invoke()
        output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        outputs.append(_dequantize_output(interpreter, output))
        if progress is not None:
            progress.update(start + len(batch))
    return np.concatenate(outputs)


def takes_raw_pixels(model):
    """True if a .tflite (path or bytes) holds the raw-pixel preprocessing op (``export/pixels.py``)."""
    interpreter = model if hasattr(model, "get_tensor_details") else make_interpreter(model, delegates=False)
    return any(PREPROCESSING_LAYER in detail["name"] for detail in interpreter.get_tensor_details())


def evaluate_tflite(path, x_normalised, y, batch_size=256):
    """``{"top1", "top5"}`` of a .tflite classifier on float images of its input (ties as ``topk_accuracy``).

    ``x_normalised``: what the file takes: the normalised images, or the pixels for a raw-pixel file
    (:func:`takes_raw_pixels`).
    """
    logits = run_tflite(path, np.asarray(x_normalised, np.float32), batch_size)
    return topk_accuracy(logits, np.asarray(y).reshape(-1))
