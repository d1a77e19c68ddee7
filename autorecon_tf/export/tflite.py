"""Conversion of a QAT student to a fully-integer .tflite, and running it with LiteRT.

``convert_student`` builds the export graph (:mod:`autorecon_tf.export.graph`),
traces it with the activation ranges frozen into constants, and converts it
with int8 builtins only. Weight grids: conv kernels carry 8-bit per-channel
fake-quants whose step is the b-bit step, so their int8 values are exactly the
b-bit levels. Dense kernels cannot: the converter transposes a Dense kernel and
then rejects a per-channel fake-quant along the transposed axis ("'tfl.transpose'
op has mismatched quantized axes"). So, in the export trace only, a Dense
kernel is given already snapped to its b-bit grid and the converter quantizes
it per channel itself (scale max|w|/127): still at most 2^b distinct int8
values per output channel, each within half an int8 step of the b-bit value.

Conv kernels are traced as the constant Keras values (the quantizer's own output)
under a fake-quant of step ``step / 2^(7-b)`` (``fine_weight_divisor``): the b-bit
level k is stored as ``k * 2^(7-b)``. With the b-bit step as int8 scale, LiteRT's
int32 accumulator unit ``input_scale * weight_scale`` was so coarse (input scale
= an a-bit step) that rounding the folded bias to it flipped 1.5-2% of the
4-bit activations and ~25% of the BN outputs by one step, per layer; with the
fine scale 0.01-0.1% and 3-11%.
"""

import contextlib
import os

import numpy as np

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.export.graph import LOGIT_MARGIN, build_export_model, float_boundaries, measure_ranges
from autorecon_tf.quantization.student import is_quantized_student, quantize_wrappers, static_ranges


@contextlib.contextmanager
def _export_kernels(student):
    """Dense kernels snapped without a fake-quant; conv kernels on the fine int8 grid (same values)."""
    dense, other = [], []
    for wrapper in quantize_wrappers(student):
        for weight, quantizer, variables in wrapper._weight_vars:
            if isinstance(wrapper.layer, keras.layers.Dense):
                dense.append(quantizer)
            else:
                other.append((quantizer, quantizer(weight, training=False, weights=variables).numpy()))
    for quantizer in dense:
        quantizer.fake_quant = False
    for quantizer, values in other:
        quantizer.export_values = values
    try:
        yield
    finally:
        for quantizer in dense:
            quantizer.fake_quant = True
        for quantizer, _ in other:
            quantizer.export_values = None


def convert_student(student, calibration_images, int8_io=False, input_range=None, logit_margin=LOGIT_MARGIN):
    """Converts ``student`` to .tflite bytes (int8 kernels and activations).

    Args:
      student: a model from ``build_student`` (or loaded back), ranges frozen.
      calibration_images: float32 NHWC images in the teacher's input space, used
        to range the tensors GDFQ leaves float (see ``export/graph.py``) and as
        the converter's representative dataset.
      int8_io: int8 model input and output instead of float32.
      input_range: ``(min, max)`` that every real input lies in (data-free, from
        the teacher's preprocessing: ``boundaries.preprocessing_input_range``); the
        input's int8 range. Without it the range is measured on
        ``calibration_images``, which must then cover the real inputs.
      logit_margin: the logits' int8 range is the calibration logits' range
        times this, capped by the interval bound (None: the bound; see
        ``graph._bound_pool_and_dense``).

    Returns:
      ``(tflite_bytes, ranges)``: the flatbuffer and the ranges added for export.
    """
    if not is_quantized_student(student):
        raise UserError(f"model {student.name!r} has no autorecon_tf quantizers: give a student from tools/compress.py")
    images = np.asarray(calibration_images, dtype=np.float32)
    names = float_boundaries(student)
    ranges = measure_ranges(student, names, images, input_range=input_range, logit_margin=logit_margin)
    export_model = build_export_model(student, ranges)
    spec = tf.TensorSpec([1, *export_model.inputs[0].shape[1:]], tf.float32)
    with static_ranges(student), _export_kernels(student):
        function = tf.function(lambda x: export_model(x, training=False))
        concrete = function.get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], export_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([images[i : i + 1]] for i in range(min(len(images), 100)))
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert(), ranges


def make_interpreter(model, preserve_all_tensors=False, num_threads=None, delegates=True):
    """A LiteRT interpreter for a path or flatbuffer bytes; delegates off to read intermediates."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    source = {"model_path": os.fspath(model)} if isinstance(model, (str, os.PathLike)) else {"model_content": model}
    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interpreter = Interpreter(
            **source,
            num_threads=num_threads,
            experimental_preserve_all_tensors=preserve_all_tensors,
            experimental_op_resolver_type=resolver,
        )
    except ValueError as error:
        raise UserError(f"{source.get('model_path', '<bytes>')!r} is not a valid .tflite model ({error})") from error
    interpreter.allocate_tensors()
    return interpreter


def _to_input(interpreter, images):
    detail = interpreter.get_input_details()[0]
    if detail["dtype"] == np.float32:
        return images.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return np.clip(np.round(images / scale + zero_point), -128, 127).astype(detail["dtype"])


def _from_output(interpreter, values):
    detail = interpreter.get_output_details()[0]
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def run_tflite(model, images, batch_size=256, interpreter=None):
    """Float outputs of a .tflite (path, bytes or interpreter) on float ``images``, batched."""
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
        interpreter.set_tensor(input_index, _to_input(interpreter, batch))
        interpreter.invoke()
        outputs.append(_from_output(interpreter, interpreter.get_tensor(interpreter.get_output_details()[0]["index"])))
    return np.concatenate(outputs)


def _top_k_accuracy(logits, labels, k):
    top = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean(np.any(top == np.asarray(labels).reshape(-1, 1), axis=1)))


def evaluate_tflite(path, x_normalised, y, batch_size=256):
    """``{"top1", "top5"}`` of a .tflite classifier on normalised float images."""
    logits = run_tflite(path, np.asarray(x_normalised, np.float32), batch_size)
    return {"top1": _top_k_accuracy(logits, y, 1), "top5": _top_k_accuracy(logits, y, min(5, logits.shape[1]))}
