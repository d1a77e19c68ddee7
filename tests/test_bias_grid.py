"""Folded biases on LiteRT's accumulator grid (``student.bias_grid``): the Keras layer, the student, the files."""

import numpy as np
import pytest
from layer_test import run_layer_test

from autorecon_tf.compat import keras, tf
from autorecon_tf.data.calibration import noise_images
from autorecon_tf.errors import UserError
from autorecon_tf.export.convert import convert_student
from autorecon_tf.export.int4 import to_int4
from autorecon_tf.export.runtime import make_interpreter, run_tflite
from autorecon_tf.quantization import build_student, set_deploy_ranges
from autorecon_tf.quantization.bias_grid import (
    GridBiasBatchNormalization,
    bias_grid_summary,
    bias_sources,
    sync_bias_units,
)
from autorecon_tf.quantization.boundaries import unwrapped
from autorecon_tf.quantization.student import activation_quantizers, quantized_layer

from conftest import calibrate_on_noise

INPUT_RANGE = (-1.5, 2.5)


def _grid_student(teacher, bits=4, bias_grid=True):
    student = build_student(
        teacher, bits, bits, scheme="gdfq_int4", int8_boundaries=True, input_range=INPUT_RANGE, bias_grid=bias_grid
    )
    calibrate_on_noise(student)
    set_deploy_ranges(student, calibration_images=noise_images((8, 8, 1), 64, seed=2))
    sync_bias_units(student)
    return student


def _offsets(batchnorm):
    """The folded offset ``beta / inv - mean + input_bias`` the layer computes with, and its unit."""
    inv = batchnorm.gamma.numpy() / np.sqrt(batchnorm.moving_variance.numpy() + batchnorm.epsilon)
    beta = batchnorm.snapped_beta().numpy()
    offset = beta / inv - batchnorm.moving_mean.numpy() + batchnorm.input_bias.numpy()
    return offset, batchnorm.bias_unit.numpy()


def test_the_layer_is_batchnorm_until_it_has_a_grid_and_round_trips():
    rng = np.random.default_rng(0)
    layer = GridBiasBatchNormalization()
    inputs = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    layer.build(inputs.shape)
    plain = keras.layers.BatchNormalization()
    plain.build(inputs.shape)
    weights = [rng.normal(size=4).astype("float32"), rng.normal(size=4).astype("float32")]
    weights += [rng.normal(size=4).astype("float32"), rng.uniform(0.5, 2, 4).astype("float32")]
    plain.set_weights(weights)
    layer.set_weights(weights + [np.zeros(4, "float32")] * 2)
    np.testing.assert_allclose(layer(inputs, training=False), plain(inputs, training=False), rtol=1e-5, atol=1e-6)
    layer.bias_unit.assign(np.full(4, 0.25, "float32"))
    offset, unit = _offsets(layer)
    np.testing.assert_allclose(offset / unit, np.round(offset / unit), atol=1e-4)
    # The output is BatchNorm's with the snapped beta: y = inv * (x + snapped offset).
    inv = weights[0] / np.sqrt(weights[3] + layer.epsilon)
    np.testing.assert_allclose(layer(inputs, training=False), inv * (inputs + offset), rtol=1e-4, atol=1e-5)
    # Training mode (batch statistics) has no folded offset: BatchNorm's own computation.
    np.testing.assert_allclose(layer(inputs, training=True), plain(inputs, training=True), rtol=1e-5, atol=1e-6)
    run_layer_test(GridBiasBatchNormalization, {}, input_shape=(2, 3, 3, 4))


def test_the_straight_through_estimator_passes_beta_gamma_gradients():
    layer = GridBiasBatchNormalization()
    layer.build((1, 2, 2, 3))
    layer.bias_unit.assign([0.5, 0.5, 0.5])
    inputs = tf.ones((1, 2, 2, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(inputs, training=False) * [1.0, 2.0, 3.0])
    beta, gamma = tape.gradient(loss, [layer.beta, layer.gamma])
    np.testing.assert_allclose(beta.numpy(), [4.0, 8.0, 12.0], rtol=1e-5)  # d y / d beta = 1 per pixel
    assert np.all(np.abs(gamma.numpy()) > 0)


def test_a_student_snaps_the_batchnorms_folded_into_quantized_convs(tiny_teacher):
    student = _grid_student(tiny_teacher)
    sources = bias_sources(student)
    folded = [layer for layer in tiny_teacher.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(sources) == len(folded) and bias_grid_summary(student) == {"snapped": len(folded), "not_snapped": 0}
    steps = {quantized_layer(name): (q, v) for name, q, v in activation_quantizers(student)}
    for batchnorm, conv, input_step in sources:
        offset, unit = _offsets(batchnorm)
        assert np.all(unit > 0), batchnorm.name
        np.testing.assert_allclose(offset / unit, np.round(offset / unit), atol=1e-3, err_msg=batchnorm.name)
        kernel = unwrapped(conv).kernel.numpy().reshape(-1, unit.size)
        signed_step = np.maximum(-kernel.min(0) / 8, kernel.max(0) / 7)  # gdfq_int4 at W4 (quantizers.py)
        np.testing.assert_allclose(unit, float(input_step) * signed_step, rtol=1e-5, err_msg=batchnorm.name)
    assert steps  # the conv inputs are the a-bit ReLUs and the int8 input
    # The teacher is not changed, and a student without the flag has no grid BatchNorm.
    assert not any(isinstance(layer, GridBiasBatchNormalization) for layer in tiny_teacher.layers)
    assert bias_sources(_grid_student(tiny_teacher, bias_grid=False)) == []


def test_bias_grid_needs_int8_boundaries(tiny_teacher):
    with pytest.raises(UserError, match="needs student.int8_boundaries=True"):
        build_student(tiny_teacher, 4, 4, bias_grid=True)


def _conv_biases(model):
    interpreter = make_interpreter(model, delegates=False)
    biases = []
    for op in interpreter._get_ops_details():
        if op["op_name"] == "CONV_2D":
            biases.append(interpreter.get_tensor(op["inputs"][2]).astype(np.int64))
    return biases


@pytest.mark.slow
def test_a_grid_students_int8_and_int4_files_compute_one_function(tiny_teacher):
    """A bias-grid student's int8 file holds its kernels as the int4 file does (export/convert.py): the same
    integer filters and biases, so LiteRT's builtin kernels give identical logits. Without the grid the
    int8 file keeps the fine conv scale, and the int4 file's biases are its biases rounded 8x coarser."""
    images, inputs = noise_images((8, 8, 1), 64, seed=2), noise_images((8, 8, 1), 64, seed=5)
    for bias_grid in (True, False):
        int8, _ = convert_student(_grid_student(tiny_teacher, bias_grid=bias_grid), images, input_range=INPUT_RANGE)
        int4, record = to_int4(int8, 4)
        assert record["exact"] and len(int4) < len(int8)
        biases = list(zip(_conv_biases(int8), _conv_biases(int4)))
        logits = [run_tflite(m, inputs, interpreter=make_interpreter(m, delegates=False)) for m in (int8, int4)]
        if bias_grid:
            assert all(np.array_equal(b8, b4) for b8, b4 in biases)
            np.testing.assert_array_equal(logits[0], logits[1])
        else:
            assert not any(np.array_equal(b8, 8 * b4) for b8, b4 in biases)  # rounded to the coarser unit
            assert not np.array_equal(logits[0], logits[1])


@pytest.mark.slow
def test_a_compression_run_saves_a_student_whose_grid_matches_its_final_weights(tmp_path):
    """The trainer syncs the grid before each student step and the pipeline once after the last one, so the
    saved student's offsets lie on the units of its saved weights, and it loads back with them."""
    from autorecon_tf.pipelines.compress import run_compression
    from autorecon_tf.teachers.loader import load_keras_model, load_teacher

    from compress_helpers import tiny_config, write_tiny_teacher
    from conftest import make_tiny_teacher

    teacher = load_teacher(write_tiny_teacher(str(tmp_path / "teacher"), make_tiny_teacher))
    overrides = {"student.int8_boundaries": True, "student.bias_grid": True, "student.scheme": "gdfq_int4"}
    workdir = str(tmp_path / "run")
    run_compression(
        "gdfq", tiny_config(**overrides), teacher, 4, 4, 0, workdir, tf.distribute.get_strategy(), log=print
    )
    student = load_keras_model(f"{workdir}/student.keras", "student")
    saved = {batchnorm.name: batchnorm.bias_unit.numpy() for batchnorm, _, _ in bias_sources(student)}
    assert saved and all(np.all(unit > 0) for unit in saved.values())
    sync_bias_units(student)  # what the saved weights give
    for batchnorm, _, _ in bias_sources(student):
        np.testing.assert_allclose(batchnorm.bias_unit.numpy(), saved[batchnorm.name], rtol=1e-6)
        offset, unit = _offsets(batchnorm)
        np.testing.assert_allclose(offset / unit, np.round(offset / unit), atol=1e-3, err_msg=batchnorm.name)
