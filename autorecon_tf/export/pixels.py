"""Raw-pixel input: the teacher's preprocessing put into the .tflite, so that the file takes the user's pixels.

The student takes the teacher's input after its preprocessing (``teacher.preprocessing``: the affine
``scale * pixels + offset`` per channel, after a centred zero padding to ``pad_to`` for our own
teachers), because the generator produces images in that space and the leading preprocessing stays
float. A user feeds a deployed model the pixels their model takes (keras.applications: 0..255), so
export puts that affine in front of the student's export graph (:func:`pixel_prefix`):

    pixels (float32) -> 8-bit fake-quant on exactly the pixel range -> [PAD with pixel 0]
        -> 1x1 DepthwiseConv2D (weight = scale, bias = offset per channel) -> the student's input fake-quant

Numerics, and why this and not a float Rescaling/Normalization:

* The pixel fake-quant on ``[0, 255]`` has int8 scale 1 (zero point -128): integer pixels are held
  exactly; on ``[0, 1]`` the step is 1/255, the 8-bit pixels' own step.
* The affine is ONE op. Per-channel int8 weights hold a single value per channel exactly (it is stored
  as 127 at scale ``|scale| / 127``); the int32 bias is rounded to ``input_scale * weight_scale``,
  ``|scale| / 127`` for 0..255 pixels, 1/254 of a pixel's effect on the output. The op's requantization
  to the student's input scale (``export_ranges``' INPUT range, the affine image of the pixel range) is
  then the only rounding onto the normalised grid, as in the post-preprocessing file, where the
  QUANTIZE of the float input is that rounding. A Rescaling followed by a Normalization would be a
  MUL and a SUB/ADD (or two MULs), each requantized to a scale of its own: two or three roundings.
* ``pad_to`` (our own teachers): the training pipeline pads ``pixels / 255`` with zeros *before*
  normalising, so the PAD comes first, in pixel space, where int8 PAD fills with the zero point, pixel
  0 exactly. The file then takes the unpadded images.

Measured 2026-12-04 (``conftest.make_mixed_teacher``: Rescaling + Normalization, 16x16x3, W8A8,
calibrated on random integer pixels; 256 such images, LiteRT builtin kernels): the raw-pixel file and
the post-preprocessing file agree on top-1 for 100% of the images, largest logit difference 0.003;
the student's int8 input (the depthwise output against the QUANTIZE output) differs by one step on
0.44% of its values, never more (the int32 bias's rounding). On a model that is sensitive to that
(``tests/test_real_architectures.mixed_model`` trained for seconds on 8x8 digits, 397 test images,
whose post-preprocessing file agrees with its Keras student on only 95.7% at W8A8): raw/post top-1
agreement 98.0% (builtin) / 99.5% (XNNPACK) at W8A8, 96.7% at W4A4, and the raw-pixel file agrees
with the Keras student as well or better (96.2% against 95.7% W8A8, 93.7% against 92.2% W4A4,
builtin). With Rescaling(1/255) + Normalization as float layers instead, the
converter wrote QUANTIZE, MUL, SUB, MUL: 71% of those int8 values differed (up to 3 steps, same scale),
largest logit difference 0.005. Cost: one op more than the post-preprocessing file (three for the
float layers); single-thread batch-1 latency 0.0080 -> 0.0092 ms on this tiny model (0.0131 with the
float layers), a fixed per-pixel cost that a real model's convolutions dwarf; 536 bytes more on the
tiny ResNet teacher's 18,848-byte W4A4 file. The student's tensors keep their names: ``convert.py``
traces the prefix and the export graph in one function rather than nesting one model in another.

Everything that runs the .tflite must then feed pixels: the converter's representative dataset
(:meth:`PixelInput.to_pixels` inverts the affine of the calibration images, clipped to the pixel
range), parity (Keras gets the preprocessed images, LiteRT the pixels), the grid check and latency.
The affine is :func:`autorecon_tf.export.affine.depthwise_affine`; the grid check and ``--weights=int4``
leave its filter alone (``affine.is_exact_affine_filter``): it is not one of the student's b-bit layers.
"""

import dataclasses

import numpy as np

from autorecon_tf.compat import keras
from autorecon_tf.data.pipeline import DEFAULT_PIXEL_RANGE
from autorecon_tf.errors import UserError
from autorecon_tf.export.affine import PREPROCESSING_LAYER, depthwise_affine
from autorecon_tf.quantization.boundaries import input_quantize_layer

# The export graph's layer names of the raw-pixel prefix; the affine's filter tensor carries PREPROCESSING_LAYER.
PIXEL_QUANTIZER = "export_fq_pixels"


@dataclasses.dataclass(frozen=True)
class PixelInput:
    """What the raw-pixel .tflite takes and how it reaches the student's input.

    Attributes:
      pixel_range: ``(low, high)`` of the pixels (e.g. 0..255).
      scale, offset: per channel, ``student input = scale * pixels + offset`` (after the padding).
      image_shape: ``(height, width, channels)`` of the pixels the file takes.
      padding: ``((top, bottom), (left, right))`` zero pixels added before the affine.
    """

    pixel_range: tuple
    scale: tuple
    offset: tuple
    image_shape: tuple
    padding: tuple = ((0, 0), (0, 0))

    def normalised_range(self):
        """``(min, max)`` over channels of the affine image of the pixel range (the student's input range)."""
        ends = [np.asarray(self.scale) * end + np.asarray(self.offset) for end in self.pixel_range]
        return float(np.min(ends)), float(np.max(ends))

    def to_pixels(self, images):
        """Student-space images (generated, noise, preprocessed) as pixels: unpadded, affine inverted, clipped."""
        images = np.asarray(images, np.float32)
        (top, bottom), (left, right) = self.padding
        images = images[:, top : images.shape[1] - bottom, left : images.shape[2] - right]
        pixels = (images - np.asarray(self.offset, np.float32)) / np.asarray(self.scale, np.float32)
        return np.clip(pixels, *self.pixel_range).astype(np.float32)

    @classmethod
    def from_record(cls, record):
        """The :class:`PixelInput` of an export_report.json's ``input`` (:meth:`record`), or None for another kind."""
        if not record or record.get("kind") != "raw_pixels":
            return None
        padding = tuple(tuple(int(v) for v in pair) for pair in record["padding"])
        values = [tuple(float(v) for v in record[key]) for key in ("pixel_range", "scale", "offset")]
        return cls(*values, tuple(int(v) for v in record["shape"]), padding)

    def record(self):
        """The ``input`` field of export_report.json: what the .tflite takes."""
        return {
            "kind": "raw_pixels",
            "pixel_range": list(self.pixel_range),
            "shape": list(self.image_shape),
            "padding": [list(pair) for pair in self.padding],
            "scale": list(self.scale),
            "offset": list(self.offset),
            "note": "the .tflite takes the pixels the model takes (float32); the preprocessing is its first op",
        }


def pixel_input(preprocessing, student_shape, pixel_range=None, image_shape=None):
    """The :class:`PixelInput` of ``preprocessing`` (a teacher's ``Preprocessing``) for a student input shape.

    ``pixel_range``: the pixels' range (a user's model: ``InputSpace.pixel_range``; default 0..255).
    ``image_shape``: the unpadded image shape, needed when ``preprocessing.pad_to`` pads (from the
    evaluation images); a UserError when it is needed and unknown or does not fit.
    """
    pixel_range = tuple(float(end) for end in (pixel_range or DEFAULT_PIXEL_RANGE))
    student_shape = tuple(int(size) for size in student_shape)
    std = np.broadcast_to(np.asarray(preprocessing.std, np.float64), student_shape[-1])
    mean = np.broadcast_to(np.asarray(preprocessing.mean, np.float64), student_shape[-1])
    # Preprocessing: (pixels / 255 - mean) / std.
    scale, offset = 1.0 / (255.0 * std), -mean / std
    padding = ((0, 0), (0, 0))
    if preprocessing.pad_to:
        if image_shape is None:
            raise UserError(
                f"the teacher pads its images to {preprocessing.pad_to} (teacher.json pad_to) and their size is "
                "unknown without evaluation data: give --eval_data, or export with --noraw_pixels"
            )
        height, width = int(image_shape[0]), int(image_shape[1])
        if preprocessing.input_shape((height, width, student_shape[-1])) != student_shape:
            raise UserError(f"images of shape {tuple(image_shape)} do not pad to the student's input {student_shape}")
        top, left = (preprocessing.pad_to - height) // 2, (preprocessing.pad_to - width) // 2
        padding = ((top, preprocessing.pad_to - height - top), (left, preprocessing.pad_to - width - left))
    else:
        height, width = student_shape[:2]
    as_tuple = lambda values: tuple(float(v) for v in values)  # noqa: E731
    shape = (height, width, student_shape[-1])
    return PixelInput(pixel_range, as_tuple(scale), as_tuple(offset), shape, padding)


def check_covered(pixels, student_input_range):
    """A UserError when a deployment-faithful student's own input range would clip the preprocessed pixels."""
    if student_input_range is None:
        return
    low, high = pixels.normalised_range()
    tolerance = 1e-3 * max(1.0, high - low)
    if low < student_input_range[0] - tolerance or high > student_input_range[1] + tolerance:
        raise UserError(
            f"pixels {pixels.pixel_range[0]:g}..{pixels.pixel_range[1]:g} preprocess to [{low:.4g}, {high:.4g}], "
            f"outside the student's input range [{student_input_range[0]:.4g}, {student_input_range[1]:.4g}]: "
            "give the --input_range the student was compressed with"
        )


def pixel_prefix(pixels, quantize=True):
    """The Keras model from raw pixels to the student's input: [fake-quant], [pad], the affine.

    ``quantize``: the 8-bit fake-quant on the pixel range (the int8 export); False for a float .tflite.
    ``convert.py`` calls it and then the export graph in one traced function, so that the student's
    tensors keep their names (a nested model would prefix every one of them).
    """
    image = keras.Input(shape=pixels.image_shape, name="pixels")
    tensor = input_quantize_layer(pixels.pixel_range, name=PIXEL_QUANTIZER)(image) if quantize else image
    if pixels.padding != ((0, 0), (0, 0)):
        tensor = keras.layers.ZeroPadding2D(pixels.padding, name="pixel_padding")(tensor)
    return keras.Model(image, depthwise_affine(pixels.scale, pixels.offset, PREPROCESSING_LAYER)(tensor), name="pixels")
