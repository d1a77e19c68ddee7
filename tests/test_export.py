"""Export to a fully-integer .tflite: parity with Keras, grids read from the file, clear errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from autorecon_tf.errors import UserError
from autorecon_tf.export import convert_student, evaluate_tflite, make_interpreter, noise_images
from autorecon_tf.export.graph import float_boundaries
from autorecon_tf.export.grid_check import check_grids
from autorecon_tf.export.parity import parity_report
from autorecon_tf.quantization import activation_quantizers, build_student, set_range_update

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _calibrated_student(teacher, weight_bits, activation_bits):
    student = build_student(teacher, weight_bits, activation_bits)
    images = noise_images((8, 8, 1), 128, seed=1)
    for start in range(0, 128, 32):
        student(images[start : start + 32], training=False)
    set_range_update(student, False)
    return student


def test_export_graph_ranges_only_the_tensors_gdfq_leaves_float(tiny_teacher):
    student = build_student(tiny_teacher, 4, 4)
    names = float_boundaries(student)
    # BN outputs entering a residual Add, the pooled features and the logits; nothing fused away.
    assert names == [
        "stage1_block1_b_bn",
        "stage2_block1_b_bn",
        "stage2_block1_proj_bn",
        "stage3_block1_b_bn",
        "stage3_block1_proj_bn",
        "pool",
        "quant_logits",
    ]


def test_unquantized_model_is_rejected(tiny_teacher):
    with pytest.raises(UserError, match="no autorecon_tf quantizers"):
        convert_student(tiny_teacher, noise_images((8, 8, 1), 4))


@pytest.mark.slow
def test_w8a8_tiny_student_matches_keras_and_evaluates(tiny_teacher, tmp_path):
    student = _calibrated_student(tiny_teacher, 8, 8)
    data, _ = convert_student(student, noise_images((8, 8, 1), 64, seed=2))
    path = tmp_path / "student.tflite"
    path.write_bytes(data)
    images = noise_images((8, 8, 1), 256, seed=3)
    labels = np.argmax(tiny_teacher(images).numpy(), 1)
    report = parity_report(student, str(path), images, labels)
    # 4 near-tied classes of a random net; the logit int8 step (from a never-clipping bound) limits it.
    assert report["top1_agreement"] >= 0.9, report
    assert report["max_logit_difference"] < 0.25, report
    scores = evaluate_tflite(str(path), images, labels)
    assert scores["top1"] == pytest.approx(report["tflite_top1"]) and scores["top5"] == 1.0  # 4 classes
    assert make_interpreter(data).get_input_details()[0]["dtype"] == np.float32


@pytest.mark.slow
def test_low_bit_grids_are_kept_in_the_int8_file(tiny_teacher):
    student = _calibrated_student(tiny_teacher, 3, 4)
    data, _ = convert_student(student, noise_images((8, 8, 1), 64, seed=2), int8_io=True)
    report = check_grids(data, 3, 4, noise_images((8, 8, 1), 128, seed=4), len(activation_quantizers(student)))
    assert report["passed"], report
    assert len(report["kernels"]) == 10 and report["max_kernel_levels"] <= 8
    assert report["activation_tensors_found"] == 7 and report["max_activation_levels"] <= 16
    assert all(kernel["dtype"] == "int8" for kernel in report["kernels"].values())
    # The check can fail: the same file does not pass as a 2-bit-weight model.
    assert not check_grids(data, 2, 4, noise_images((8, 8, 1), 16), 7)["passed"]


def _run_tool(*args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "export_tflite.py"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


@pytest.mark.slow
def test_tool_reports_corrupt_and_unquantized_inputs_in_one_line(tiny_teacher, tmp_path):
    corrupt = tmp_path / "student.keras"
    corrupt.write_bytes(b"not a zip file")
    teacher_path = tmp_path / "teacher.keras"
    tiny_teacher.save(teacher_path)
    out = str(tmp_path / "out" / "student.tflite")
    for student, expected in ((corrupt, "could not be loaded"), (teacher_path, "not a quantized student")):
        result = _run_tool(f"--student={student}", f"--teacher={teacher_path}", f"--out={out}")
        assert result.returncode == 2, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and expected in last, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
    assert not os.path.exists(out)
