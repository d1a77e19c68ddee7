"""Real-architecture layers through the student and LiteRT: depthwise, swish, ReLU6, squeeze-excite, Concatenate.

Also the Python API (``autorecon_tf.compress`` / ``autorecon_tf.export_tflite``) end to end on a tiny model.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import autorecon_tf
from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.export.convert import convert_student
from autorecon_tf.export.grid_check import check_grids
from autorecon_tf.export.parity import parity_report
from autorecon_tf.export.runtime import make_interpreter, ops_details
from autorecon_tf.quantization import build_student, set_range_update
from autorecon_tf.quantization.boundaries import preprocessing_input_range
from autorecon_tf.quantization.ranges import export_ranges
from autorecon_tf.quantization.student import lowbit_activation_quantizers, split_activations
from autorecon_tf.teachers.loader import teacher_from_model
from autorecon_tf.utils.functional import producers

from compress_helpers import TINY_OVERRIDES

L = keras.layers


def mixed_model(seed=0):
    """Rescaling, conv+swish, depthwise+ReLU6, squeeze-excite (fused sigmoid, Multiply), two concats."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((8, 8, 3))
    x = L.Rescaling(1 / 127.5, offset=-1)(image)
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("swish")(x)
    d = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    d = L.BatchNormalization()(d)
    d = L.ReLU(6.0)(d)
    s = L.GlobalAveragePooling2D(keepdims=True)(d)
    s = L.Conv2D(4, 1, activation="relu")(s)
    s = L.Conv2D(8, 1, activation="sigmoid")(s)
    d = L.Multiply()([d, s])
    p = L.Conv2D(8, 1, use_bias=False)(x)
    p = L.BatchNormalization()(p)
    p = L.ReLU()(p)
    d = L.Concatenate()([d, p])  # of a-bit inputs
    d = L.Concatenate()([d, L.Conv2D(4, 1)(x)])  # with a float input
    d = L.BatchNormalization()(d)
    d = L.ReLU()(d)
    c = L.Conv2D(12, 1, use_bias=False)(d)
    c = L.BatchNormalization()(c)
    c = L.ReLU()(c)
    return keras.Model(image, L.Dense(4)(L.GlobalAveragePooling2D()(c)))


def named_padded_model(seed=0):
    """MobileNetV3's stem and squeeze-excite as keras.applications names them: "/" in names, a pad before a conv."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((8, 8, 3))
    x = L.Rescaling(1 / 127.5, offset=-1)(image)
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="stem/conv")(x)
    x = L.BatchNormalization(name="stem/bn")(x)
    x = L.ReLU(name="stem/relu")(x)
    d = L.ZeroPadding2D(((0, 1), (0, 1)), name="block/pad")(x)  # after a quantized tensor: keeps its scale
    d = L.DepthwiseConv2D(3, strides=2, use_bias=False, name="block/depthwise")(d)
    d = L.BatchNormalization(name="block/depthwise/bn")(d)
    d = L.ReLU(name="block/depthwise/relu")(d)
    s = L.GlobalAveragePooling2D(keepdims=True, name="block/squeeze_excite/pool")(d)
    s = L.Conv2D(4, 1, activation="relu", name="block/squeeze_excite/reduce")(s)
    s = L.Conv2D(8, 1, activation="sigmoid", name="block/squeeze_excite/expand")(s)
    d = L.Multiply(name="block/squeeze_excite/mul")([d, s])
    return keras.Model(image, L.Dense(4, name="logits")(L.GlobalAveragePooling2D(name="pool")(d)))


@pytest.fixture(scope="module")
def digits_rgb():
    """Digits as 8x8x3 pixels 0..255 and 4 classes (label mod 4)."""
    digits = load_digits()
    x = np.tile((digits.images * 255 / 16).astype(np.float32)[..., None], (1, 1, 1, 3))
    return x, digits.target % 4


@pytest.fixture(scope="module")
def trained_mixed(digits_rgb):
    x, y = digits_rgb
    model = mixed_model()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:1400], y[:1400], epochs=15, batch_size=64, verbose=0)
    return model


def test_fused_non_relu_activations_get_layers_of_their_own_with_the_same_function():
    model = mixed_model()
    split = split_activations(model)
    names = [layer.name for layer in split.layers]
    sigmoid_conv = [layer for layer in model.layers if getattr(layer, "activation", None) is keras.activations.sigmoid]
    (conv,) = sigmoid_conv
    assert f"{conv.name}_activation" in names and split.get_layer(conv.name).activation is keras.activations.linear
    relu_conv = [layer.name for layer in model.layers if getattr(layer, "activation", None) is keras.activations.relu]
    assert all(f"{name}_activation" not in names for name in relu_conv)  # TFMOT quantizes a fused ReLU itself
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(split(images), model(images), rtol=1e-5, atol=1e-5)
    assert model.get_layer(conv.name).activation is keras.activations.sigmoid  # the teacher is untouched
    assert split_activations(split) is split


def test_concatenated_float_tensors_share_one_range_and_a_bit_inputs_leave_it_to_litert(trained_mixed, digits_rgb):
    teacher = teacher_from_model(trained_mixed, "mixed")
    student = build_student(teacher.model, 4, 4)
    images = teacher.preprocessing(digits_rgb[0][:128]).numpy()
    student(images, training=False)
    set_range_update(student, False)
    ranges = export_ranges(student, images, input_range=preprocessing_input_range(teacher.preprocessing))
    concats = [layer.name for layer in student.layers if isinstance(getattr(layer, "layer", layer), L.Concatenate)]
    first, second = concats
    assert first not in ranges  # its inputs are a-bit (Multiply, ReLU): CONCATENATION takes their scale
    previous, float_input = producers(student)[second]
    assert previous == first and ranges[second] == ranges[float_input]  # one scale for the concat and its float input


def test_names_with_slashes_and_padding_after_a_quantized_tensor_keep_the_a_bit_grid():
    """Before: "block/squeeze_excite/reduce" was read as layer "block", the pad got an int8 range of its own
    (MobileNetV3Small: stem pad scale 0.0260 against the conv's 0.0152, Keras/TFLite agreement 16.8%)."""
    model = named_padded_model()
    teacher = teacher_from_model(model, "named")
    student = build_student(teacher.model, 8, 8)
    images = teacher.preprocessing(np.random.default_rng(0).uniform(0, 255, (64, 8, 8, 3)).astype("float32"))
    student(images, training=False)
    set_range_update(student, False)
    input_range = preprocessing_input_range(teacher.preprocessing)
    ranges = export_ranges(student, images, input_range=input_range)
    # Quantized already (its fused ReLU; a pass-through on the quantized ReLU): no int8 range of their own.
    assert "block/squeeze_excite/reduce" not in ranges and "block/pad" not in ranges
    data, _ = convert_student(student, images.numpy(), input_range=input_range)
    interpreter = make_interpreter(data, delegates=False)
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    scales = lambda index: details[index]["quantization_parameters"]["scales"]  # noqa: E731
    ops = ops_details(interpreter)
    for op in ops:  # the pad (if not folded into the depthwise conv) keeps its input's scale
        if op["op_name"] in ("PAD", "PADV2"):
            np.testing.assert_allclose(scales(op["outputs"][0]), scales(op["inputs"][0]))
    for op in ops:  # every kernel's bias on the accumulator's scale
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and op["inputs"][-1] >= 0:
            source, kernel, bias = (scales(index) for index in op["inputs"])
            np.testing.assert_allclose(bias, source[0] * kernel, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("bits, agreement, accuracy_gap", [(8, 0.94, 0.03), (4, 0.5, None)])
def test_litert_parity_with_depthwise_swish_relu6_squeeze_excite_and_concat(
    trained_mixed, digits_rgb, bits, agreement, accuracy_gap
):
    """Before the splits and the concat rule: 11-36% top-1 agreement at W4A4 (bias scales 15/255 off).

    Measured after: 95.7% (W8A8) and 85.1% (W4A4; accuracies 47.4% / 42.6%) on 397 digits: a calibrated-only
    student of a 4-class net trained for seconds (W4A4 top-1 ~47%) has many near-tied logits,
    and GDFQ's placement leaves the BatchNorm outputs float that the .tflite rounds to int8.
    At W4A4 both numbers depend on the teacher's float training, so on the CPU it trains on: on AMD EPYC
    family 25 model 1 (AVX2) 70.3% agreement and top-1 51.9% / 36.0% (three runs alike), and 56.2%
    with oneDNN off (top-1 73.6% Keras). So W4A4 asserts only an agreement of 50%, above the bug's
    11-36%, and no accuracy gap. The exact check of the fix is the bias-scale assertion.
    """
    x, y = digits_rgb
    teacher = teacher_from_model(trained_mixed, "mixed")
    student = build_student(teacher.model, bits, bits)
    images = teacher.preprocessing(x).numpy()
    for start in range(0, 512, 64):
        student(images[start : start + 64], training=False)
    set_range_update(student, False)
    data, _ = convert_student(student, images[:128], input_range=preprocessing_input_range(teacher.preprocessing))
    interpreter = make_interpreter(data, delegates=False)
    kinds = {op["op_name"] for op in ops_details(interpreter)}
    assert {"DEPTHWISE_CONV_2D", "LOGISTIC", "MUL", "CONCATENATION"} <= kinds, kinds
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    for op in ops_details(interpreter):  # every kernel's bias on the accumulator's scale
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            source, kernel, bias = (details[index]["quantization_parameters"]["scales"] for index in op["inputs"])
            np.testing.assert_allclose(bias, source[0] * kernel, rtol=1e-4)
    report = parity_report(student, data, images[1400:], y[1400:])
    assert report["top1_agreement"] >= agreement, report
    if accuracy_gap is not None:
        assert abs(report["keras_top1"] - report["tflite_top1"]) <= accuracy_gap, report
    grids = check_grids(data, bits, bits, images[:64], len(lowbit_activation_quantizers(student)))
    assert grids["passed"], grids


@pytest.mark.slow
def test_the_python_api_compresses_and_exports_a_users_model(trained_mixed, digits_rgb, tmp_path):
    x, y = digits_rgb
    student, metrics = autorecon_tf.compress(
        trained_mixed,
        weight_bits=4,
        activation_bits=4,
        budget="smoke",
        overrides=TINY_OVERRIDES,
        eval_data=(x[1400:], y[1400:]),
        workdir=str(tmp_path / "run"),
    )
    assert metrics["accuracy_measured"] and metrics["test_examples"] == len(x) - 1400
    assert metrics["quantization"]["summary"]["weight_bits"] == [4]
    assert metrics["input_space"]["source"].startswith("the model's Rescaling")
    assert metrics["teacher"].startswith("<in-memory model")
    assert (tmp_path / "run" / "student.keras").exists() and (tmp_path / "run" / "metrics.json").exists()
    report = autorecon_tf.export_tflite(
        student,
        str(tmp_path / "student.tflite"),
        teacher=trained_mixed,
        generator=str(tmp_path / "run" / "generator.keras"),
        eval_data=(x[1400:], y[1400:]),
        budget="smoke",
    )
    assert report["grid_check"]["passed"] and report["parity"]["examples"] == len(x) - 1400
    assert report["calibration_source"] == "generator" and report["input_preprocessing"]["mean"]
    assert report["input"]["kind"] == "raw_pixels" and report["input"]["pixel_range"] == [0.0, 255.0]
    assert (tmp_path / "export_report.json").exists() and (tmp_path / "teacher_float32.tflite").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weight_bits=9), "weight_bits=9"),
        (dict(generator="gan"), "generator='gan'"),
        (dict(generator="searched"), "genotype"),
        (dict(budget="huge"), "budget='huge'"),
    ],
)
def test_the_python_api_names_a_wrong_argument(kwargs, message):
    with pytest.raises(UserError, match=message):
        autorecon_tf.compress(mixed_model(), **kwargs)


def test_the_python_api_rejects_what_is_not_a_model():
    with pytest.raises(UserError, match="give a Keras classifier"):
        autorecon_tf.compress(np.zeros(3), budget="smoke")
