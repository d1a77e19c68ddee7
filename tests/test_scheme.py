"""The scheme's table row by row, and the students it gives: what is quantized, on which grid."""

import math

import numpy as np
import pytest

from autorecon_tf.compat import TFOpLambda, keras, tf
from autorecon_tf.quantization import activation_ranges, build_student, effective_weights, student_bits
from autorecon_tf.quantization.quantizers import ActivationQuantizer
from autorecon_tf.quantization.scheme import GdfqQuantizeRegistry, Placement, is_activation, output_note
from autorecon_tf.quantization.student import activation_quantizers, quantize_wrappers

from conftest import hard_sigmoid
from helpers import save_and_reload_student

LN3 = math.log(3.0)
layers = keras.layers


def _built(layer, shape=(1, 4, 4, 4)):
    layer.build(shape)
    return layer


def _normalization():
    layer = layers.Normalization(axis=-1)
    layer.adapt(np.arange(8, dtype="float32").reshape(2, 4))
    return layer


ROWS = [
    # (layer, placement, output note)
    (lambda: layers.Conv2D(2, 1, activation="relu"), Placement(("kernel",), ("activation",)), "relu (GDFQ)"),
    (lambda: layers.Conv2D(2, 1, activation="relu6"), Placement(("kernel",), (), True), "relu6 (GDFQ)"),
    (lambda: layers.Conv2D(2, 1, activation="swish"), Placement(("kernel",), (), True), "swish, asymmetric range"),
    (lambda: layers.Conv2D(2, 1), Placement(("kernel",)), "linear output: GDFQ leaves it float"),
    (
        lambda: layers.DepthwiseConv2D(1, activation="sigmoid"),
        Placement(("depthwise_kernel",), (), True),
        "sigmoid, asymmetric range",
    ),
    (
        lambda: layers.SeparableConv2D(2, 1),
        Placement(("depthwise_kernel", "pointwise_kernel")),
        "linear output: GDFQ leaves it float",
    ),
    (lambda: layers.Dense(2, activation="gelu"), Placement(("kernel",), (), True), "gelu, asymmetric range"),
    (
        lambda: layers.Dense(2, activation="softmax"),
        Placement(("kernel",)),
        "activation 'softmax' is not in the scheme's table: left float",
    ),
    (lambda: layers.ReLU(6.0), Placement(output=True), "ReLU (GDFQ)"),
    (lambda: layers.Activation("relu6"), Placement(output=True), "relu6 (GDFQ)"),
    (lambda: layers.Activation("silu"), Placement(output=True), "swish, asymmetric range"),
    (lambda: layers.Activation("hard_sigmoid"), Placement(output=True), "hard-sigmoid, asymmetric range"),
    (lambda: layers.Activation("tanh"), Placement(), "activation 'tanh' is not in the scheme's table: left float"),
    (lambda: layers.Multiply(), Placement(output=True), "product (squeeze-excite or hard-swish), asymmetric range"),
    (lambda: layers.BatchNormalization(), Placement(), "GDFQ leaves the output of BatchNormalization float"),
    (lambda: layers.Add(), Placement(), "GDFQ leaves the output of Add float"),
    (lambda: layers.Concatenate(), Placement(), "GDFQ leaves the output of Concatenate float"),
    (lambda: layers.Rescaling(0.5), Placement(), "preprocessing stays float"),
    (_normalization, Placement(), "preprocessing stays float"),
    (lambda: layers.Dropout(0.5), Placement(), "pass-through"),
    (lambda: layers.ZeroPadding2D(), Placement(), "pass-through"),
    (lambda: layers.Reshape((16, 4)), Placement(), "pass-through"),
    (lambda: layers.Flatten(), Placement(), "pass-through"),
    (lambda: layers.MaxPooling2D(), Placement(), "pass-through"),
    (lambda: layers.GlobalAveragePooling2D(), Placement(), "pass-through"),
    (lambda: layers.LeakyReLU(), Placement(), "no weights, not in the scheme's table: left float"),
]


@pytest.mark.parametrize("make, placement, note", ROWS)
def test_each_row_places_quantizers_and_says_why(make, placement, note):
    layer = make()
    if not layer.built and not isinstance(layer, (layers.Add, layers.Multiply, layers.Concatenate)):
        _built(layer)
    registry = GdfqQuantizeRegistry(4, 4)
    assert registry.policy(layer) == placement
    assert output_note(layer) == note


def test_a_tf_op_layer_stays_float():
    x = keras.Input((4,))
    op_layer = (x + 3.0)._keras_history.layer
    assert isinstance(op_layer, TFOpLambda)
    assert GdfqQuantizeRegistry(4, 4).policy(op_layer) == Placement()
    assert output_note(op_layer) == "a TF op: left float"


def test_activations_the_report_counts():
    assert is_activation(_built(layers.Dense(2, activation="softmax")))  # counted, and float
    assert is_activation(layers.Multiply()) and is_activation(layers.ReLU())
    assert not is_activation(_built(layers.Conv2D(2, 1))) and not is_activation(layers.Activation("linear"))
    assert not is_activation(layers.BatchNormalization())


def test_activation_quantizer_keeps_a_negative_minimum():
    # Range [-0.25, 1]: 2-bit step 1.25 / 3, zero point round(0.6) = 1 -> grid -5/12, 0, 5/12, 10/12.
    layer = layers.Layer()
    quantizer = ActivationQuantizer(2)
    variables = quantizer.build(None, "output", layer)
    result = quantizer(tf.constant([-0.25, 0.0, 0.5, 1.0]), training=False, weights=variables).numpy()
    np.testing.assert_allclose(result, np.array([-5, 0, 5, 10]) / 12, atol=1e-6)
    assert (variables["min"].numpy(), variables["max"].numpy()) == (-0.25, 1.0)


def _one_layer_student(layer, bits=2, units=3):
    inputs = keras.Input((units,))
    return build_student(keras.Model(inputs, layer(inputs)), bits, bits)


def test_swish_output_is_quantized_on_an_asymmetric_range():
    # swish(+-ln 3) = +-ln3 * sigmoid(+-ln 3) = 3 ln3 / 4 and -ln3 / 4: range [-ln3/4, 3 ln3/4], width ln 3;
    # 2 bits: step ln3 / 3, zero point round(0.75) = 1 -> grid ln3 * (-1/3, 0, 1/3, 2/3).
    student = _one_layer_student(layers.Activation("swish", name="swish"))
    result = student(tf.constant([[-LN3, 0.0, LN3]]), training=False).numpy()
    np.testing.assert_allclose(result, [[-LN3 / 3, 0.0, 2 * LN3 / 3]], atol=1e-6)
    (low, high) = activation_ranges(student)["quant_swish"]
    assert low == pytest.approx(-LN3 / 4) and high == pytest.approx(3 * LN3 / 4)


def test_fused_sigmoid_is_quantized_after_the_sigmoid():
    # Identity kernel (exact at 2 bits: per channel {0, 1/3, 2/3, 1}); sigmoid(0, ln3, -ln3, ln7) = 1/2, 3/4, 1/4, 7/8;
    # range [0, 7/8], 2 bits: step 7/24 -> 7/12, 7/8, 7/24, 7/8. (TFMOT's own wrapper would quantize before it.)
    dense = layers.Dense(4, activation="sigmoid", kernel_initializer="identity", name="gate")
    student = _one_layer_student(dense, units=4)
    result = student(tf.constant([[0.0, LN3, -LN3, math.log(7.0)]]), training=False).numpy()
    np.testing.assert_allclose(result, [[7 / 12, 7 / 8, 7 / 24, 7 / 8]], atol=1e-6)
    # Split into a layer of its own (the sigmoid is an op of its own in LiteRT), quantized after it.
    assert [name for name, _, _ in activation_quantizers(student)] == ["quant_gate_activation"]


def test_keras_applications_hard_swish_quantizes_the_relu6_and_the_product():
    # x = -3, -1, 1, 3: x + 3 = 0, 2, 4, 6 is on the 2-bit ReLU6 grid (step 2); gate 0, 1/3, 2/3, 1;
    # x * gate = 0, -1/3, 2/3, 3; 2 bits on [-1/3, 3]: step 10/9, zero point round(0.3) = 0 -> 0, 0, 10/9, 10/3.
    inputs = keras.Input((4,))
    student = build_student(keras.Model(inputs, layers.Multiply(name="hswish")([inputs, hard_sigmoid(inputs)])), 2, 2)
    result = student(tf.constant([[-3.0, -1.0, 1.0, 3.0]]), training=False).numpy()
    np.testing.assert_allclose(result, [[0.0, 0.0, 10 / 9, 10 / 3]], atol=1e-6)
    wrapped = sorted(wrapper.layer.name for wrapper in quantize_wrappers(student))
    assert wrapped == ["hswish", "re_lu"]  # the two TF ops stay float
    assert sum(isinstance(layer, TFOpLambda) for layer in student.layers) == 2


def test_separable_conv_quantizes_both_kernels_per_channel(mixed_teacher):
    student = build_student(mixed_teacher, 2, 4)
    weights = effective_weights(student)
    (depthwise,) = [kernel for name, kernel in weights.items() if name.startswith("sep/") and "depthwise" in name]
    (pointwise,) = [kernel for name, kernel in weights.items() if name.startswith("sep/") and "pointwise" in name]
    for kernel in (depthwise.reshape(9, -1), pointwise.reshape(8, -1)):
        assert max(len(np.unique(kernel[:, channel])) for channel in range(kernel.shape[1])) <= 4
    assert student_bits(student) == (2, 4)


def test_mixed_student_saves_and_loads_back(mixed_teacher, tmp_path):
    student = build_student(mixed_teacher, 4, 4)
    images = tf.random.uniform((4, 16, 16, 3), 0, 255, seed=1)
    student(images, training=False)
    save_and_reload_student(student, images, tmp_path / "student.keras")
