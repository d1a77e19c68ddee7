"""Raw-pixel export (``export/pixels.py``): the .tflite takes the model's pixels, its preprocessing inside."""

import json

import numpy as np
import pytest

from autorecon_tf import cli
from autorecon_tf.data.calibration import noise_images
from autorecon_tf.data.pipeline import Preprocessing
from autorecon_tf.errors import UserError
from autorecon_tf.export.convert import convert_student
from autorecon_tf.export.grid_check import check_grids
from autorecon_tf.export.int4 import to_int4
from autorecon_tf.export.pixels import PixelInput, check_covered, pixel_input, pixel_prefix
from autorecon_tf.export.report import export_loaded
from autorecon_tf.export.runtime import make_interpreter, ops_details, run_tflite, takes_raw_pixels
from autorecon_tf.quantization import build_student, set_range_update
from autorecon_tf.quantization.boundaries import preprocessing_input_range
from autorecon_tf.quantization.student import lowbit_activation_quantizers
from autorecon_tf.teachers.loader import teacher_from_model

from conftest import calibrate_on_noise, make_mixed_teacher
from helpers import run_tool, save_normalised_teacher

PREPROCESSING = Preprocessing((0.3,), (0.4,), 0)


def _integer_pixels(shape, count, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, *shape)).astype(np.float32)


def _calibrated(model, images, weight_bits, activation_bits):
    student = build_student(model, weight_bits, activation_bits)
    for start in range(0, len(images), 64):
        student(images[start : start + 64], training=False)
    set_range_update(student, False)
    return student


def test_the_pixel_graph_computes_the_preprocessing_padding_included():
    """pad_to pads pixels / 255 with zeros before normalising (data/pipeline.py): the PAD comes first."""
    preprocessing = Preprocessing((0.2, 0.5), (0.3, 0.25), pad_to=8)
    pixels = pixel_input(preprocessing, (8, 8, 2), image_shape=(5, 6, 2))
    assert pixels.image_shape == (5, 6, 2) and pixels.padding == ((1, 2), (1, 1))
    x = _integer_pixels((5, 6, 2), 4)
    expected = preprocessing(x).numpy()
    np.testing.assert_allclose(pixel_prefix(pixels, quantize=False)(x), expected, atol=1e-5)
    np.testing.assert_allclose(pixels.to_pixels(expected), x, atol=1e-3)  # integer pixels come back
    assert PixelInput.from_record(json.loads(json.dumps(pixels.record()))) == pixels
    assert pixels.normalised_range() == pytest.approx(preprocessing_input_range(preprocessing))
    with pytest.raises(UserError, match="pads its images to 8"):
        pixel_input(preprocessing, (8, 8, 2))


def test_a_student_input_range_that_would_clip_the_pixels_is_a_user_error():
    pixels = pixel_input(PREPROCESSING, (8, 8, 1))  # pixels 0..255 -> [-0.75, 1.75]
    check_covered(pixels, (-0.75, 1.75))
    check_covered(pixels, None)  # a GDFQ-placement student: export gives the input its range
    with pytest.raises(UserError, match=r"outside the student's input range \[-1, 1\].*--input_range"):
        check_covered(pixels, (-1.0, 1.0))
    zero_one = pixel_input(PREPROCESSING, (8, 8, 1), pixel_range=(0.0, 1.0))
    # A model of pixels 0..1 (Preprocessing divides by 255 for them as well): its range, not 0..255's.
    assert zero_one.normalised_range() == pytest.approx((-0.75, (1 / 255 - 0.3) / 0.4))


def _first_ops(data):
    interpreter = make_interpreter(data, delegates=False)
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    ops = ops_details(interpreter)
    return interpreter, details, ops


def test_the_raw_pixel_file_agrees_with_the_post_preprocessing_file_on_integer_pixels():
    """A tiny model with Rescaling + Normalization (conftest.make_mixed_teacher), W8A8."""
    teacher = teacher_from_model(make_mixed_teacher(), "mixed")
    x = _integer_pixels((16, 16, 3), 512)
    images = teacher.preprocessing(x).numpy()
    student = _calibrated(teacher.model, images[:256], 8, 8)
    input_range = preprocessing_input_range(teacher.preprocessing)
    pixels = pixel_input(teacher.preprocessing, teacher.input_shape, teacher.space.pixel_range)
    post, _ = convert_student(student, images[:128], input_range=input_range)
    raw, _ = convert_student(student, images[:128], input_range=input_range, pixels=pixels)
    interpreter, details, ops = _first_ops(raw)
    detail = interpreter.get_input_details()[0]
    assert detail["dtype"] == np.float32 and list(detail["shape"]) == [1, 16, 16, 3]
    assert [op["op_name"] for op in ops[:2]] == ["QUANTIZE", "DEPTHWISE_CONV_2D"]
    pixel_quantization = details[ops[0]["outputs"][0]]["quantization_parameters"]
    assert pixel_quantization["scales"][0] == 1.0 and pixel_quantization["zero_points"][0] == -128  # 0..255 exact
    assert len(ops) == len(ops_details(make_interpreter(post, delegates=False))) + 1  # one op more
    assert takes_raw_pixels(raw) and not takes_raw_pixels(post)
    builtin = lambda data, inputs: run_tflite(data, inputs, interpreter=make_interpreter(data, delegates=False))  # noqa: E731
    post_logits, raw_logits = builtin(post, images[256:]), builtin(raw, x[256:])
    # Measured: 100% and 0.003 (the int8 input differs by one step on 0.4% of its values).
    assert np.mean(np.argmax(post_logits, 1) == np.argmax(raw_logits, 1)) >= 0.99
    assert np.max(np.abs(post_logits - raw_logits)) < 0.05
    grids = [check_grids(data, 8, 8, inputs[:32]) for data, inputs in ((post, images), (raw, x))]
    levels = [sorted((k["op"], k["max_levels"]) for k in grid["kernels"].values()) for grid in grids]
    assert grids[0]["passed"] and grids[1]["passed"] and levels[0] == levels[1]  # the student's kernels only


def test_int4_and_the_grid_check_leave_the_preprocessing_filter_alone(tiny_teacher):
    x = _integer_pixels((8, 8, 1), 192, seed=1)
    images = PREPROCESSING(x).numpy()
    student = _calibrated(tiny_teacher, images[:128], 3, 4)
    pixels = pixel_input(PREPROCESSING, (8, 8, 1))
    raw, _ = convert_student(student, images[:64], input_range=pixels.normalised_range(), pixels=pixels)
    int4, record = to_int4(raw, 3)
    assert len(record["filters"]) == 10 and record["exact"]  # the student's 10 kernels, not the preprocessing
    interpreter, details, ops = _first_ops(int4)
    assert details[ops[1]["inputs"][1]]["dtype"] == np.int8  # the DEPTHWISE_CONV_2D keeps its int8 filter
    grids = check_grids(int4, 3, 4, x[128:], len(lowbit_activation_quantizers(student)))
    assert grids["passed"] and len(grids["kernels"]) == 10, grids


def test_export_loaded_feeds_pixels_to_every_file_it_runs(tmp_path):
    teacher = teacher_from_model(make_mixed_teacher(), "mixed")
    x = _integer_pixels((16, 16, 3), 384, seed=2).astype(np.uint8)
    images = teacher.preprocessing(x).numpy()
    student = _calibrated(teacher.model, images[:128], 8, 8)
    labels = np.argmax(teacher.model(images).numpy(), 1)
    config = cli.load_config("configs/export_default.py", "smoke", {"latency.runs": 10})
    report = export_loaded(
        student, teacher, str(tmp_path / "student.tflite"), config, eval_data=(x[128:], labels[128:])
    )
    assert report["input"]["kind"] == "raw_pixels" and report["input"]["pixel_range"] == [0.0, 255.0]
    assert report["parity"]["top1_agreement"] >= 0.99 and report["parity"]["keras_vs_builtin"] >= 0.99
    assert report["teacher_tflite_top1"] >= 0.99 and report["grid_check"]["passed"]
    assert takes_raw_pixels(report["teacher_tflite"])  # the float baseline takes the same pixels


@pytest.mark.slow
def test_the_tool_writes_the_input_field_and_noraw_pixels_keeps_the_old_file(tiny_teacher, tmp_path):
    teacher_path = save_normalised_teacher(tiny_teacher, tmp_path / "teacher.keras")
    student = _calibrated(tiny_teacher, noise_images((8, 8, 1), 64, seed=1), 4, 4)
    student.save(tmp_path / "student.keras")
    base = [f"--student={tmp_path / 'student.keras'}", f"--teacher={teacher_path}", "--config.latency.runs=5"]
    for name, extra in (("raw", []), ("post", ["--noraw_pixels"])):
        result = run_tool("export_tflite", *base, f"--out={tmp_path / name / 'student.tflite'}", *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        assert ("raw pixels 0..255" if name == "raw" else "preprocessed pixels") in result.stdout
    reports = {name: json.loads((tmp_path / name / "export_report.json").read_text()) for name in ("raw", "post")}
    assert reports["raw"]["input"]["kind"] == "raw_pixels" and reports["raw"]["input"]["shape"] == [8, 8, 1]
    assert reports["post"]["input"]["kind"] == "preprocessed"
    assert takes_raw_pixels(str(tmp_path / "raw" / "student.tflite"))
    # The opt-out is today's file: the student's input, calibrated on the same noise (calibration.count).
    calibration = noise_images((8, 8, 1), 256, seed=0)
    today, _ = convert_student(student, calibration, input_range=preprocessing_input_range(Preprocessing.identity(1)))
    assert (tmp_path / "post" / "student.tflite").read_bytes() == today


@pytest.mark.slow
def test_the_raw_pixel_conversion_still_enters_each_file_at_most_twice(tiny_teacher):
    """tests/test_layout.py's rule for ``convert_student``, on its raw-pixel path."""
    from test_layout import files_entered

    student = calibrate_on_noise(build_student(tiny_teacher, 4, 4))
    pixels = pixel_input(PREPROCESSING, (8, 8, 1))
    counts = files_entered(convert_student, student, noise_images((8, 8, 1), 16, seed=2), pixels=pixels)
    assert {"export/convert.py", "export/graph.py", "export/pixels.py"} <= set(counts), counts
    assert max(counts.values()) <= 2, counts
