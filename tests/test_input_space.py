"""A user's own classifier: flattening, the input space and its sources, ``--eval_data``, no teacher.json."""

import json
import os

import numpy as np
import pytest

from autorecon_tf.compat import keras
from autorecon_tf.data.eval_data import load_eval_data
from autorecon_tf.errors import UserError
from autorecon_tf.pipelines.compress import run_compression
from autorecon_tf.teachers import input_space
from autorecon_tf.teachers.loader import load_teacher

from compress_helpers import run_compress, tiny_config
from conftest import make_tiny_teacher
from helpers import assert_user_error

PIXELS = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3)).astype("float32")


def _backbone(seed=0):
    return make_tiny_teacher(input_shape=(8, 8, 3), num_classes=4, seed=seed)


def _with_prefix(*prefix):
    """``prefix`` layers, then the tiny ResNet as a nested sub-model: the transfer-learning shape."""
    return keras.Sequential([keras.Input((8, 8, 3)), *prefix, _backbone()])


def _pixels_to_core(space, pixels):
    preprocessing = space.preprocessing()
    return (pixels / 255.0 - np.asarray(preprocessing.mean)) / np.asarray(preprocessing.std)


def _check_same_function(model, core, space):
    np.testing.assert_allclose(core(_pixels_to_core(space, PIXELS)), model(PIXELS), rtol=1e-4, atol=1e-4)
    assert not any(isinstance(layer, keras.Model) for layer in core.layers)


def test_a_leading_rescaling_is_cut_off_and_the_pixels_inferred():
    model = _with_prefix(keras.layers.Rescaling(1 / 127.5, offset=-1.0))
    core, space = input_space.adapt(model, "m.keras")
    assert space.pixel_range == (0.0, 255.0) and not space.standardised and "Rescaling" in space.source
    assert space.adapter() is None  # the core's space is [-1, 1] already
    assert not any(isinstance(layer, keras.layers.Rescaling) for layer in core.layers)
    assert space.preprocessing().mean == (0.5,) * 3 and space.preprocessing().std == (0.5,) * 3
    _check_same_function(model, core, space)


def test_rescaling_to_unit_range_gets_an_adapter_from_the_generators_space():
    model = _with_prefix(keras.layers.Rescaling(1 / 255.0))
    core, space = input_space.adapt(model, "m.keras")
    assert space.adapter() == ((0.5,) * 3, (0.5,) * 3)  # [-1, 1] -> [0, 1]
    assert core.layers[1].name == "generator_space_adapter"
    _check_same_function(model, core, space)


def test_normalization_in_pixel_units_is_standardised():
    mean, variance = [120.0, 110.0, 100.0], [60.0**2, 50.0**2, 40.0**2]
    model = _with_prefix(keras.layers.Normalization(mean=mean, variance=variance))
    core, space = input_space.adapt(model, "m.keras")
    assert space.standardised and space.adapter() is None and space.pixel_range == (0.0, 255.0)
    np.testing.assert_allclose(space.preprocessing().mean, np.array(mean) / 255.0)
    np.testing.assert_allclose(space.preprocessing().std, np.sqrt(variance) / 255.0)
    _check_same_function(model, core, space)


def test_normalization_in_unit_pixels_infers_pixels_0_to_1():
    model = _with_prefix(keras.layers.Normalization(mean=[0.5] * 3, variance=[0.04] * 3))
    _, space = input_space.adapt(model, "m.keras")
    assert space.pixel_range == (0.0, 1.0)


def test_a_model_without_preprocessing_needs_the_flags():
    with pytest.raises(UserError, match="--input_range=0,255") as error:
        input_space.adapt(_backbone(), "plain.keras")
    assert "plain.keras" in str(error.value) and "\n" not in str(error.value)
    core, space = input_space.adapt(_backbone(), "plain.keras", input_range="0,255")
    assert space.adapter() == ((127.5,) * 3, (127.5,) * 3) and space.source == "--input_range=0,255"
    _check_same_function(_backbone(), core, space)
    core, space = input_space.adapt(_backbone(), "plain.keras", input_mean="100", input_std="50,60,70")
    assert space.standardised and space.adapter() is None and space.pixel_range == (0.0, 255.0)
    standardised = (PIXELS - 100.0) / np.array([50.0, 60.0, 70.0])  # what the user fed the model
    np.testing.assert_allclose(core(_pixels_to_core(space, PIXELS)), _backbone()(standardised), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"input_range": "255,0"}, "give lo < hi"),
        ({"input_range": "0..255"}, "is not two numbers"),
        ({"input_mean": "0.5"}, "go together"),
        ({"input_mean": "1,2", "input_std": "1"}, "has 2 values: give one or 3"),
        ({"input_mean": "0", "input_std": "0"}, "must be positive"),
    ],
)
def test_bad_input_flags_are_one_line_errors(flags, message):
    with pytest.raises(UserError, match=message):
        input_space.adapt(_backbone(), "plain.keras", **flags)


def test_a_nested_sequential_without_preprocessing_flattens_to_the_same_function():
    model = keras.Sequential([keras.Input((8, 8, 3)), _backbone(), keras.layers.Dense(3)])
    core, space = input_space.adapt(model, "m.keras", input_range="-1,1")
    assert space.adapter() is None
    _check_same_function(model, core, space)
    batchnorm = lambda model: [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]  # noqa: E731
    assert len(batchnorm(core)) == len(batchnorm(_backbone())) == 9


def test_load_teacher_without_a_record_uses_the_model_and_says_so(tmp_path):
    path = str(tmp_path / "user.keras")
    _with_prefix(keras.layers.Rescaling(1 / 127.5, offset=-1.0)).save(path)
    teacher = load_teacher(path)
    assert "input space from the model's Rescaling" in teacher.summary()
    assert tuple(teacher.info["input_space"]["pixel_range"]) == (0.0, 255.0)
    with pytest.raises(UserError, match="normalises its input itself"):
        load_teacher(path, input_mean="0", input_std="1")


def _write_npz(path, x, y):
    np.savez(path, x=x, y=y)
    return str(path)


def test_eval_data_npz_and_folder_are_checked_against_the_model(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (6, 8, 8, 3)).astype("uint8")
    data = load_eval_data(_write_npz(tmp_path / "ok.npz", x, np.arange(6) % 4), (8, 8, 3), 4)
    assert data.x_test.shape == (6, 8, 8, 3) and list(data.y_test) == [0, 1, 2, 3, 0, 1]
    cases = [
        (_write_npz(tmp_path / "shape.npz", x[:, :4], np.zeros(6, int)), "holds images of shape"),
        (_write_npz(tmp_path / "labels.npz", x, np.full(6, 4)), "holds label 4; the model has 4 classes"),
        (_write_npz(tmp_path / "count.npz", x, np.zeros(5, int)), "one integer label per image"),
        (str(tmp_path / "absent.npz"), "does not exist"),
    ]
    for path, message in cases:
        with pytest.raises(UserError, match=message):
            load_eval_data(path, (8, 8, 3), 4)
    for label in ("a", "b"):
        os.makedirs(tmp_path / "folder" / label)
        for index in range(2):
            keras.utils.save_img(str(tmp_path / "folder" / label / f"{index}.png"), x[index])
    folder = load_eval_data(str(tmp_path / "folder"), (8, 8, 3), 4)
    assert folder.x_test.shape == (4, 8, 8, 3) and list(folder.y_test) == [0, 0, 1, 1]


def test_compress_without_teacher_json_or_eval_data_reports_fidelity_only(tmp_path):
    path = str(tmp_path / "user.keras")
    _with_prefix(keras.layers.Rescaling(1 / 127.5, offset=-1.0)).save(path)
    teacher = load_teacher(path)
    metrics = run_compression("gdfq", tiny_config(), teacher, 4, 4, 0, str(tmp_path / "run"), _default_strategy())
    assert not metrics["accuracy_measured"] and metrics["student_top1"] is None and metrics["dataset"] is None
    assert metrics["quantization"]["summary"]["weight_bits"] == [4]
    assert metrics["fidelity"]["images"] == 1024 and metrics["fidelity"]["source"] == "generated"
    assert 0.0 <= metrics["fidelity"]["agreement"] <= 1.0 and metrics["fidelity"]["kl"] >= 0.0
    with open(tmp_path / "run" / "metrics.json", encoding="utf-8") as handle:
        assert json.load(handle)["input_space"]["source"].startswith("the model's Rescaling")
    eval_path = _write_npz(tmp_path / "eval.npz", PIXELS.astype("uint8"), np.arange(5) % 4)
    measured = run_compression(
        "noise", tiny_config(), teacher, 4, 4, 0, str(tmp_path / "run2"), _default_strategy(), eval_data=eval_path
    )
    assert measured["accuracy_measured"] and measured["test_examples"] == 5 and measured["dataset"] == "eval.npz"
    assert measured["fidelity"]["source"] == "noise"


def _default_strategy():
    from autorecon_tf.compat import tf

    return tf.distribute.get_strategy()


@pytest.mark.slow
def test_the_tool_names_the_flags_for_a_model_it_cannot_read_and_writes_nothing(tmp_path):
    path = str(tmp_path / "plain.keras")
    _backbone().save(path)
    result = run_compress(path, tmp_path / "run")
    assert_user_error(result, "plain.keras", "--input_range=0,255")
    assert not (tmp_path / "run" / "metrics.json").exists()
    result = run_compress(path, tmp_path / "run", "--input_range=0,255")
    assert result.returncode == 0, result.stderr
    assert "accuracy not measured (no --eval_data)" in result.stdout and "agreement" in result.stdout
    assert "weight layers quantized" in result.stdout
