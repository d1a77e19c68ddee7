"""Packed INT4 filters (``--weights=int4``): the packing LiteRT reads, the levels, a tiny export, the W8 refusal."""

import numpy as np
import pytest

from autorecon_tf.data.calibration import noise_images
from autorecon_tf.errors import UserError
from autorecon_tf.export.convert import convert_student
from autorecon_tf.export.grid_check import check_grids
from autorecon_tf.export.int4 import (
    channel_levels,
    int4_channel,
    kernel_paths,
    pack_int4,
    read_int4_filters,
    to_int4,
    unpack_int4,
)
from autorecon_tf.export.report import check_weights
from autorecon_tf.export.runtime import make_interpreter, run_tflite
from autorecon_tf.quantization import build_student
from autorecon_tf.quantization.student import lowbit_activation_quantizers, quantize_wrappers

from conftest import calibrate_on_noise
from helpers import assert_user_error, run_tool, save_and_reload_student, save_normalised_teacher


def test_packing_puts_the_even_element_in_the_low_nibble_as_litert_unpacks():
    values = np.array([1, -2, 7, -8, 3], np.int8)
    packed = pack_int4(values)
    # UnpackPackedIntToInt8: byte i holds element 2i (low nibble) and 2i + 1 (high); an odd tail pads.
    assert packed == bytes([0xE1, 0x87, 0x03])
    np.testing.assert_array_equal(unpack_int4(packed, 5), values)
    every = np.arange(-8, 8, dtype=np.int8)
    np.testing.assert_array_equal(unpack_int4(pack_int4(every), 16), every)
    with pytest.raises(ValueError, match="int4 values"):
        pack_int4(np.array([8]))


def test_levels_of_a_conv_and_a_dense_channel_and_what_does_not_fit_int4():
    # A 3-bit conv channel: level k stored as 16 k (fine divisor 2^(7-3)); int4 stores k, scale 16x.
    values, factor, clipped = int4_channel(16 * np.array([-4, -1, 0, 3]), 3)
    np.testing.assert_array_equal(values, [-8, -2, 0, 6])  # |k| <= 4 leaves room for 2k
    assert factor == 8.0 and clipped == 0
    # A dense channel: the converter's own scale max|w| / 127, so levels round(127 k / 5).
    levels, unit = channel_levels(np.round(127 * np.array([-5, -2, 1, 5]) / 5), 4)
    np.testing.assert_array_equal(levels, [-5, -2, 1, 5]) and pytest.approx(unit) == 127 / 5
    # A 4-bit asymmetric channel [-zp, 15 - zp] with zp = 6: the levels 8 and 9 do not fit [-8, 7].
    values, factor, clipped = int4_channel(8 * np.array([-6, 0, 7, 8, 9]), 4)
    np.testing.assert_array_equal(values, [-6, 0, 7, 7, 7])
    assert factor == 8.0 and clipped == 2


@pytest.fixture
def w3_export(tiny_teacher):
    student = calibrate_on_noise(build_student(tiny_teacher, 3, 4))
    int8, _ = convert_student(student, noise_images((8, 8, 1), 64, seed=2))
    return student, int8


def _dequantized_filters(model):
    interpreter = make_interpreter(model, delegates=False)
    int4 = read_int4_filters(model)
    result = {}
    for detail in interpreter.get_tensor_details():
        scales = detail["quantization_parameters"]["scales"]
        if detail["name"] in int4 or (detail["dtype"] == np.int8 and len(scales) > 1):
            values = int4[detail["name"]][1] if detail["name"] in int4 else interpreter.get_tensor(detail["index"])
            axis = detail["quantization_parameters"]["quantized_dimension"]
            shape = [-1 if dim == axis else 1 for dim in range(values.ndim)]
            result[detail["name"]] = (values.astype(np.float64) * scales.reshape(shape), scales.reshape(shape))
    return result


@pytest.mark.slow
def test_an_int4_export_runs_holds_the_students_grid_and_is_smaller(w3_export):
    """The int4 file's filters dequantize to the int8 file's conv kernels (the student's 3-bit grid, see
    test_export.py::test_low_bit_grids_are_kept_in_the_int8_file; dense: the 3-bit values the int8 file
    holds to within half a step), and LiteRT computes it exactly as
    an int8 file holding the same levels and scales unpacked. It is not the int8 file's function: the
    bias is rounded to the 16x coarser accumulator unit (top-1 agreement with the int8 file 73% on
    these near-tied noise images of a random net; see autorecon_tf/export/int4.py)."""
    student, int8 = w3_export
    int4, record = to_int4(int8, 3)
    assert record["exact"] and len(record["filters"]) == 10 and len(int4) < len(int8)
    filters = read_int4_filters(int4)
    assert set(filters) == set(record["filters"])
    expected, unpacked = _dequantized_filters(int8), _dequantized_filters(int4)
    for name, (op, _, _) in filters.items():
        (values, _), (int8_values, int8_scales) = unpacked[name], expected[name]
        if op == "CONV_2D":
            np.testing.assert_allclose(values, int8_values, rtol=1e-6, err_msg=name)
        else:  # Dense: the converter rounded the 3-bit values to its own int8 scale; int4 holds them exactly
            assert np.all(np.abs(values - int8_values) <= 0.5 * int8_scales + 1e-7), name
    images = noise_images((8, 8, 1), 256, seed=5)
    grids = check_grids(int4, 3, 4, images, len(lowbit_activation_quantizers(student)))
    assert grids["passed"] and {kernel["dtype"] for kernel in grids["kernels"].values()} == {"int4"}
    twin, _ = to_int4(int8, 3, packed_storage=False)
    builtin = run_tflite(int4, images, interpreter=make_interpreter(int4, delegates=False))
    np.testing.assert_array_equal(
        builtin, run_tflite(twin, images, interpreter=make_interpreter(twin, delegates=False))
    )
    default = run_tflite(int4, images)  # XNNPACK where it takes the op
    assert np.mean(np.argmax(default, 1) == np.argmax(builtin, 1)) >= 0.95
    kernels = {(row["op"], row["filter_type"], row["kernel"]) for row in kernel_paths(int4)}
    assert kernels == {("CONV_2D", "int4", "builtin"), ("FULLY_CONNECTED", "int4", "XNNPACK")}


def _signed(student):
    return [quantizer.signed for wrapper in quantize_wrappers(student) for _, quantizer, _ in wrapper._weight_vars]


@pytest.mark.slow
def test_a_w4_student_of_the_int4_scheme_fits_int4_without_clipping_and_keeps_it_on_reload(tiny_teacher, tmp_path):
    """GDFQ's asymmetric W4 grids reach levels up to 15, which int4 clips; the gdfq_int4 scheme's signed grids
    stay in [-8, 7], so the packed filters dequantize to the int8 file's kernels."""
    student = calibrate_on_noise(build_student(tiny_teacher, 4, 4, scheme="gdfq_int4"))
    reloaded = save_and_reload_student(student, noise_images((8, 8, 1), 8, seed=3), str(tmp_path / "student.keras"))
    signed = _signed(reloaded)
    assert signed and all(signed)
    int8, _ = convert_student(reloaded, noise_images((8, 8, 1), 64, seed=2))
    int4, record = to_int4(int8, 4)
    assert record["exact"] and record["clipped_weights"] == 0
    expected, unpacked = _dequantized_filters(int8), _dequantized_filters(int4)
    for name, (op, _, _) in read_int4_filters(int4).items():
        if op == "CONV_2D":
            np.testing.assert_allclose(unpacked[name][0], expected[name][0], rtol=1e-6, err_msg=name)
    asymmetric = calibrate_on_noise(build_student(tiny_teacher, 4, 4))
    assert not any(_signed(asymmetric))


def test_int4_needs_weight_bits_of_at_most_4(tiny_teacher, tmp_path):
    student = build_student(tiny_teacher, 8, 8)
    with pytest.raises(UserError, match="needs a student with weight bits <= 4"):
        check_weights(student, "int4", "student.keras")
    check_weights(student, "int8", "student.keras")
    with pytest.raises(UserError, match="choose one of int8, int4"):
        check_weights(student, "int2", "student.keras")


@pytest.mark.slow
def test_the_tool_refuses_int4_for_a_w8_student_in_one_line(tiny_teacher, tmp_path):
    student_path, teacher_path = tmp_path / "student.keras", tmp_path / "teacher.keras"
    calibrate_on_noise(build_student(tiny_teacher, 8, 8)).save(student_path)
    save_normalised_teacher(tiny_teacher, teacher_path)
    out = tmp_path / "out" / "student.tflite"
    result = run_tool(
        "export_tflite", f"--student={student_path}", f"--teacher={teacher_path}", f"--out={out}", "--weights=int4"
    )
    assert_user_error(result, "--weights=int4 needs a student with weight bits <= 4", "8-bit weights")
    assert not out.exists()
