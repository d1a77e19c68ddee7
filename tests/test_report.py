"""The per-layer quantization report: what a student really quantizes, and why the rest is float."""

import json

import pytest

from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.quantization import build_student, student_bits
from autorecon_tf.quantization.report import quantization_report

BN = "GDFQ leaves the output of BatchNormalization float"
BN_WEIGHTS = "GDFQ keeps BatchNormalization float (not folded)"
LINEAR = "linear output: GDFQ leaves it float"
PREPROCESSING = "preprocessing stays float"
PRODUCT = "product (squeeze-excite or hard-swish), asymmetric range"
KERNEL = "kernel, per channel"

# (name, type, weight bits, weight note, output bits, output note) of the W2A4 student of conftest's mixed teacher.
MIXED_ROWS = [
    ("image", "InputLayer", None, "", "float", "the input image stays float (GDFQ)"),
    ("rescale", "Rescaling", None, "", "float", PREPROCESSING),
    ("normalize", "Normalization", "float", PREPROCESSING, "float", PREPROCESSING),
    ("pad", "ZeroPadding2D", None, "", "float", "pass-through"),
    ("stem", "Conv2D", 2, KERNEL, "float", LINEAR),
    ("stem_bn", "BatchNormalization", "float", BN_WEIGHTS, "float", BN),
    ("tf.__operators__.add", "TFOpLambda(__operators__.add)", None, "", "float", "a TF op: left float"),
    ("re_lu", "ReLU", None, "", 4, "ReLU (GDFQ)"),
    ("tf.math.multiply", "TFOpLambda(math.multiply)", None, "", "float", "a TF op: left float"),
    ("stem_hswish", "Multiply", None, "", 4, PRODUCT),
    ("dw", "DepthwiseConv2D", 2, "depthwise_kernel, per channel", "float", LINEAR),
    ("dw_bn", "BatchNormalization", "float", BN_WEIGHTS, "float", BN),
    ("dw_swish", "Activation", None, "", 4, "swish, asymmetric range"),
    ("se_pool", "GlobalAveragePooling2D", None, "", "float", "pass-through"),
    ("se_reduce", "Conv2D", 2, KERNEL, 4, "relu (GDFQ)"),
    # Fused non-ReLU activations are split into layers of their own (LiteRT runs them as ops of their own).
    ("se_expand", "Conv2D", 2, KERNEL, "float", LINEAR),
    ("se_expand_activation", "Activation", None, "", 4, "sigmoid, asymmetric range"),
    ("sep", "SeparableConv2D", 2, "depthwise_kernel, pointwise_kernel, per channel", "float", LINEAR),
    ("se_scale", "Multiply", None, "", 4, PRODUCT),
    ("sep_activation", "Activation", None, "", 4, "swish, asymmetric range"),
    ("concat", "Concatenate", None, "", "float", "GDFQ leaves the output of Concatenate float"),
    ("mix", "Conv2D", 2, KERNEL, "float", LINEAR),
    ("mix_activation", "Activation", None, "", 4, "relu6 (GDFQ)"),
    ("gate", "Activation", None, "", 4, "hard-sigmoid, asymmetric range"),
    ("max_pool", "MaxPooling2D", None, "", "float", "pass-through"),
    ("pool", "GlobalAveragePooling2D", None, "", "float", "pass-through"),
    ("reshape", "Reshape", None, "", "float", "pass-through"),
    ("flatten", "Flatten", None, "", "float", "pass-through"),
    ("hidden", "Dense", 2, KERNEL, "float", LINEAR),
    ("hidden_activation", "Activation", None, "", 4, "gelu, asymmetric range"),
    ("dropout", "Dropout", None, "", "float", "pass-through"),
    ("logits", "Dense", 2, KERNEL, "float", LINEAR),
]


def _cells(report):
    return [
        (row.name, row.type, row.weight_bits, row.weight_note, row.output_bits, row.output_note) for row in report.rows
    ]


def test_report_names_every_layer_its_bits_or_why_it_is_float(mixed_teacher):
    report = quantization_report(build_student(mixed_teacher, 2, 4))
    assert _cells(report) == MIXED_ROWS
    summary = report.summary()
    # 8 weight layers: stem, dw, se_reduce, se_expand, sep (2 kernels), mix, hidden, logits.
    assert summary["weight_layers"] == summary["weight_layers_quantized"] == 8
    # 10 activations: re_lu, stem_hswish, dw_swish, se_reduce, se_scale, gate and the split activations of
    # se_expand, sep, mix and hidden.
    assert summary["activations"] == summary["activations_quantized"] == 10
    assert (summary["weight_bits"], summary["activation_bits"], summary["int8_boundaries"]) == ([2], [4], 0)
    kernels = sum(row.quantized_parameters for row in report.rows)
    assert kernels == 3 * 3 * 3 * 8 + 9 * 8 + 8 * 4 + 4 * 8 + (9 * 8 + 8 * 8) + 16 * 16 + 16 * 8 + 8 * 10
    assert summary["parameter_share"] == round(kernels / mixed_teacher.count_params(), 4)


def test_float_first_and_last_kernels_and_int8_boundaries_are_reported(mixed_teacher):
    rows = {
        row.name: row for row in quantization_report(build_student(mixed_teacher, 4, 4, quantize_first_last=False)).rows
    }
    assert rows["stem"].weight_bits == rows["logits"].weight_bits == "float"
    assert rows["stem"].weight_note == "first/last weight layer: quantize_first_last=False"
    report = quantization_report(build_student(mixed_teacher, 4, 4, int8_boundaries=True, input_range=(0, 255)))
    rows = {row.name: row for row in report.rows}
    assert (rows["input_int8"].output_bits, rows["input_int8"].output_boundary) == (8, True)
    # The BN before a swish is an int8 tensor of its own (LiteRT fuses only ReLUs); the logits too.
    assert (rows["dw_bn"].output_bits, rows["logits"].output_bits) == (8, 8)
    assert rows["dw_bn"].output_note.startswith("int8 boundary")
    assert rows["tf.math.multiply"].output_bits == "float"  # a TF op cannot be wrapped
    summary = report.summary()
    assert summary["activation_bits"] == [4] and summary["activations_quantized"] == 10
    assert summary["int8_boundaries"] == sum(row.output_boundary for row in report.rows) > 0


def test_report_is_json_ready_and_renders_one_line_per_layer(mixed_teacher):
    report = quantization_report(build_student(mixed_teacher, 4, 4))
    data = json.loads(json.dumps(report.to_dict()))
    assert [row["name"] for row in data["layers"]] == [row[0] for row in MIXED_ROWS]
    assert data["summary"]["weight_layer_share"] == data["summary"]["activation_share"] == 1.0
    lines = report.render().splitlines()
    assert lines[0].split() == ["layer", "type", "weights", "output"]
    assert lines[1 + len(MIXED_ROWS)] == ""
    stem = next(line for line in lines if line.startswith("stem "))
    assert "4-bit: kernel, per channel" in stem and "float: linear output" in stem
    assert lines[-2].startswith("weights: 8/8 weight layers quantized (100.0%)")
    assert lines[-1] == "activations: 10/10 quantized (100.0%) at 4 bits; 0 int8 boundaries at 8 bits"


def test_a_float_model_has_no_report(mixed_teacher):
    with pytest.raises(UserError, match="holds no quantizer"):
        quantization_report(mixed_teacher)


def test_mobilenet_v3_small_student_reports_every_quantizer():
    teacher = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classes=10, include_preprocessing=False
    )
    student = build_student(teacher, 4, 4)
    report = quantization_report(student)
    assert student_bits(student) == (4, 4)
    by_type = {}
    for row in report.rows:
        by_type.setdefault(row.type.split("(")[0], set()).add(row.output_bits)
    assert by_type["ReLU"] == by_type["Multiply"] == {4}  # ReLUs, hard-swish and squeeze-excite products
    assert by_type["TFOpLambda"] == by_type["BatchNormalization"] == {"float"}
    summary = report.summary()
    assert summary["weight_layer_share"] == 1.0
    (float_activation,) = [row for row in report.rows if row.activation and row.output_bits == "float"]
    assert (float_activation.name, float_activation.output_note) == (
        "Predictions",
        "activation 'softmax' is not in the scheme's table: left float",
    )
