"""Conversion to .tflite: a QAT student to a fully-integer one, a float model (the teacher baseline) to float32.

``convert_student`` takes the student's export ranges (``quantization/ranges.py``),
builds the export graph (:mod:`autorecon_tf.export.graph`), traces it with the
activation ranges frozen into constants, and converts it with int8 builtins
only. With ``pixels`` (the default of ``tools/export_tflite.py``) the file takes raw pixels, the
teacher's preprocessing its first op (:mod:`autorecon_tf.export.pixels`), and the representative
dataset is the calibration images as pixels; the student's part of the graph is unchanged.

Weight grids: conv kernels carry 8-bit per-channel fake-quants whose step
is the b-bit step, so their int8 values are exactly the b-bit levels. Dense kernels cannot: the converter transposes a Dense kernel and
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

import numpy as np

from autorecon_tf.compat import keras, native_logs_silenced, tf
from autorecon_tf.export.graph import build_export_model
from autorecon_tf.export.int4 import MAX_INT4_WEIGHT_BITS, to_int4
from autorecon_tf.export.pixels import pixel_prefix
from autorecon_tf.quantization.bias_grid import grid_weight_bits
from autorecon_tf.quantization.ranges import LOGIT_MARGIN, export_ranges
from autorecon_tf.quantization.student import quantize_wrappers, static_ranges


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


def convert_student(
    student, calibration_images, int8_io=False, input_range=None, logit_margin=LOGIT_MARGIN, pixels=None
):
    """Converts ``student`` to .tflite bytes (int8 kernels and activations).

    Args:
      student: a model from ``build_student`` (or loaded back), ranges frozen.
      calibration_images: float32 NHWC images in the teacher's input space, used
        to range the tensors GDFQ leaves float (``ranges.export_ranges``) and as
        the converter's representative dataset.
      int8_io: int8 model input and output instead of float32.
      input_range: ``(min, max)`` that every real input lies in (data-free, from
        the teacher's preprocessing: ``boundaries.preprocessing_input_range``); the
        input's int8 range. Without it the range is measured on
        ``calibration_images``, which must then cover the real inputs.
      logit_margin: the logits' int8 range is the calibration logits' range
        times this, capped by the interval bound (None: the bound; see
        ``ranges._bound_by_inputs``).
      pixels: a :class:`~autorecon_tf.export.pixels.PixelInput`: the file takes raw pixels, the
        preprocessing its first op (``export/pixels.py``); the representative dataset is then
        ``calibration_images`` as pixels. None: the file takes the student's input.

    Returns:
      ``(tflite_bytes, ranges)``: the flatbuffer and the ranges added for export.
    """
    images = np.asarray(calibration_images, dtype=np.float32)
    # The one read of the student and the rules on it (a UserError for a model that is not a student).
    ranges = export_ranges(student, images, input_range=input_range, logit_margin=logit_margin)
    export_model = build_export_model(student, ranges)
    prefix = None if pixels is None else pixel_prefix(pixels)
    with static_ranges(student), _export_kernels(student):
        concrete = _traced(export_model, prefix)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], _Trackable(export_model, prefix))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    representative = images if pixels is None else pixels.to_pixels(images)
    converter.representative_dataset = lambda: (
        [representative[i : i + 1]] for i in range(min(len(representative), 100))
    )
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with native_logs_silenced():
        tflite_bytes = converter.convert()
    return _grid_filters(student, tflite_bytes), ranges


def _grid_filters(student, tflite_bytes):
    """A bias-grid student's W<=4 file with its kernel filters as the int4 export writes them, unpacked.

    The fine conv scale (module doc) exists to round folded biases finely; a bias-grid student's are
    exact on the b-bit unit (``quantization/bias_grid.py``), so its int8 file takes the int4 file's
    integers and scales (``export/int4.py``, ``packed_storage=False``; the Dense filter exactly on its
    b-bit levels instead of the converter's ``max|w| / 127``), and the two compute one function.
    Kept as converted if a weight would not fit int4 (GDFQ's asymmetric W4 grids).
    """
    weight_bits = grid_weight_bits(student)
    if weight_bits is None or weight_bits > MAX_INT4_WEIGHT_BITS:
        return tflite_bytes
    twin, record = to_int4(tflite_bytes, weight_bits, packed_storage=False)
    return twin if record["exact"] else tflite_bytes


class _Trackable(tf.Module):
    """What the converter keeps alive: the model and the raw-pixel prefix (or None), whose variables it freezes."""

    def __init__(self, model, prefix):
        super().__init__()
        self.model, self.prefix = model, prefix


def _traced(model, prefix=None):
    """The batch-1 concrete function of ``model`` in inference mode, fed through ``prefix`` (raw pixels) if given."""
    source = model if prefix is None else prefix
    spec = tf.TensorSpec([1, *source.inputs[0].shape[1:]], tf.float32)
    if prefix is None:
        return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return tf.function(lambda x: model(prefix(x, training=False), training=False)).get_concrete_function(spec)


def convert_float(model, pixels=None):
    """A float32 .tflite of a Keras model (the teacher baseline for size and latency).

    ``pixels``: a :class:`~autorecon_tf.export.pixels.PixelInput`: the file takes raw pixels, the
    preprocessing (float here) its first ops, as the student's raw-pixel file does.
    """
    prefix = None if pixels is None else pixel_prefix(pixels, quantize=False)
    concrete = _traced(model, prefix)
    with native_logs_silenced():
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete], _Trackable(model, prefix)).convert()


def convert_int8_ptq(model, calibration_images):
    """A fully-integer .tflite of a float Keras model by the converter's post-training quantization.

    ``calibration_images`` (float32 NHWC in the model's input space; generated images for a data-free
    student) are its representative dataset; input and output stay float32.
    """
    images = np.asarray(calibration_images, dtype=np.float32)
    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([images[i : i + 1]] for i in range(len(images)))
    with native_logs_silenced():
        return converter.convert()
