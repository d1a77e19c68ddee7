"""The student API: GDFQ placement, bit checks, range control, grids after QAT, save/load."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.quantization import (
    activation_quantizers,
    activation_ranges,
    build_student,
    effective_weights,
    set_range_update,
    student_bits,
)
from autorecon_tf.quantization.student import quantize_wrappers
from autorecon_tf.teachers.loader import load_keras_model

from helpers import save_and_reload_student


def _images(count=16, shape=(8, 8, 1)):
    return tf.random.normal((count, *shape))


def test_gdfq_placement(tiny_teacher):
    student = build_student(tiny_teacher, 4, 4)
    wrapped = {wrapper.layer.name: wrapper for wrapper in quantize_wrappers(student)}
    weight_layers = [
        layer.name for layer in tiny_teacher.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    relus = [layer.name for layer in tiny_teacher.layers if isinstance(layer, keras.layers.ReLU)]
    assert set(wrapped) == set(weight_layers) | set(relus)  # nothing on BN, Add, pooling, input
    assert all(wrapped[name]._weight_vars for name in weight_layers)  # first and last included
    assert all(not wrapped[name]._output_quantizers for name in weight_layers)  # logits stay float
    assert len(activation_quantizers(student)) == len(relus)
    assert not any(isinstance(layer, tfmot.quantization.keras.QuantizeWrapper) for layer in tiny_teacher.layers)


def test_int8_boundaries_add_8bit_quantizers_where_the_tflite_has_int8_tensors(tiny_teacher):
    student = build_student(tiny_teacher, 4, 4, int8_boundaries=True)
    boundary = {
        name.split("/")[0]: quantizer for name, quantizer, _ in activation_quantizers(student) if quantizer.boundary
    }
    # BN outputs that enter a residual Add (not those followed by a ReLU), and the logits.
    into_add = {
        inbound.name
        for layer in tiny_teacher.layers
        if isinstance(layer, keras.layers.Add)
        for inbound in layer._inbound_nodes[0].inbound_layers
        if isinstance(inbound, keras.layers.BatchNormalization)
    }
    assert into_add
    expected = {f"quant_{name}" for name in into_add} | {"quant_logits"}
    assert set(boundary) == expected
    assert all(quantizer.num_bits == 8 for quantizer in boundary.values())
    assert student_bits(student) == (4, 4)
    # The Adds feed quantized ReLUs, so they are fused, not boundaries; the pooling is export's.
    assert not any(name.startswith("quant_") and "add" in name for name in boundary)


def test_student_starts_as_teacher_copy_and_never_shares_weights(tiny_teacher):
    student = build_student(tiny_teacher, 8, 8)
    teacher_ids = {id(weight) for weight in tiny_teacher.weights}
    assert not teacher_ids & {id(weight) for weight in student.weights}
    images = _images(64)
    student(images, training=False)  # first call sets the 8-bit ranges
    agreement = np.mean(np.argmax(student(images, training=False), 1) == np.argmax(tiny_teacher(images), 1))
    assert agreement >= 0.9


def test_quantize_first_last_false_keeps_first_and_last_kernels_float(tiny_teacher):
    student = build_student(tiny_teacher, 4, 4, quantize_first_last=False)
    quantized = set(effective_weights(student))
    assert "stem_conv" not in quantized and "logits" not in quantized
    assert "stage1_block1_a_conv" in quantized


@pytest.mark.parametrize("bits", [1, 9, "four", 4.5, None])
def test_unsupported_bits_are_named(tiny_teacher, bits):
    with pytest.raises(UserError, match=f"weight_bits={bits!r}"):
        build_student(tiny_teacher, bits, 4)
    with pytest.raises(UserError, match=f"activation_bits={bits!r}"):
        build_student(tiny_teacher, 4, bits)


def test_layer_the_scheme_cannot_quantize_is_named():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Conv2DTranspose(4, 3, name="odd_transpose")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    with pytest.raises(UserError, match="'odd_transpose' \\(Conv2DTranspose\\) has weights"):
        build_student(model, 4, 4)


def test_unknown_scheme_and_quantized_input_are_rejected(tiny_teacher):
    with pytest.raises(UserError, match="scheme 'tfmot'"):
        build_student(tiny_teacher, 4, 4, scheme="tfmot")
    with pytest.raises(UserError, match="already quantized"):
        build_student(build_student(tiny_teacher, 4, 4), 4, 4)


def test_range_update_is_independent_of_training_flag_and_bn_stays_frozen(tiny_teacher):
    student = build_student(tiny_teacher, 4, 4)
    bn = next(layer for layer in student.layers if isinstance(layer, keras.layers.BatchNormalization))
    moving_mean = bn.moving_mean.numpy().copy()
    step = tf.function(lambda images: student(images, training=False))
    step(_images())
    first = activation_ranges(student)
    assert all(high > 0 for _, high in first.values())
    set_range_update(student, False)
    step(_images() * 3.0)
    assert activation_ranges(student) == first
    set_range_update(student, True)
    step(_images() * 3.0)
    assert activation_ranges(student) != first
    np.testing.assert_array_equal(bn.moving_mean.numpy(), moving_mean)


def _qat_steps(student, steps=3):
    optimizer = keras.optimizers.SGD(0.5)
    for _ in range(steps):
        images = _images()
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(student(images, training=False)))
        optimizer.apply_gradients(zip(tape.gradient(loss, student.trainable_weights), student.trainable_weights))


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_effective_weights_stay_on_the_b_bit_grid_after_qat(tiny_teacher, bits):
    student = build_student(tiny_teacher, bits, 4)
    student(_images(), training=False)
    before = [w.numpy().copy() for w in student.trainable_weights]
    _qat_steps(student)
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, student.trainable_weights))
    kernels = effective_weights(student)
    assert len(kernels) == 10
    for name, kernel in kernels.items():
        per_channel = kernel.reshape(-1, kernel.shape[-1])
        distinct = max(len(np.unique(per_channel[:, c])) for c in range(per_channel.shape[1]))
        assert distinct <= 2**bits, name


def test_saved_student_loads_back_with_same_outputs_and_ranges(tiny_teacher, tmp_path):
    student = build_student(tiny_teacher, 3, 5)
    images = _images()
    student(images, training=False)
    set_range_update(student, False)
    path = tmp_path / "student.keras"
    loaded = save_and_reload_student(student, images, path)
    loaded(images * 4.0, training=False)  # the frozen flag was saved too
    assert activation_ranges(loaded) == activation_ranges(student)
    reloaded = load_keras_model(path, what="student")  # the project's loader imports the registering modules
    assert len(effective_weights(reloaded)) == 10
