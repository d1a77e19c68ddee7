"""The teacher validator's errors, in the library and through tools/evaluate.py."""

import importlib
import json
import os
import pkgutil

import numpy as np
import pytest

import autorecon_tf
from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.teachers.loader import SERIALIZABLE_MODULES, load_teacher

from conftest import REPO
from helpers import assert_user_error, run_tool, save_normalised_teacher

ARCHIVED_TEACHER = os.path.join(REPO, "benchmarks", "results", "reproduce_standard", "teacher_resnet20.keras")


def _no_batchnorm_model():
    image = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3)(image)
    return keras.Model(image, keras.layers.Dense(3)(keras.layers.Flatten()(x)))


def _vector_model():
    features = keras.Input((16,))
    x = keras.layers.BatchNormalization()(keras.layers.Dense(8)(features))
    return keras.Model(features, keras.layers.Dense(3)(x))


@pytest.mark.parametrize("suffix", [".keras", ".h5", ""])
def test_loads_every_format_and_reads_the_record(tmp_path, tiny_teacher, suffix):
    path = tmp_path / f"teacher{suffix}"
    tiny_teacher.save(str(path))
    (tmp_path / "teacher.json").write_text(json.dumps({"preprocessing": {"mean": [0.3], "std": [0.2], "pad_to": 0}}))
    teacher = load_teacher(str(path))
    assert teacher.input_shape == (8, 8, 1) and teacher.num_classes == 4
    assert len(teacher.batchnorm_layers) == len([layer for layer in tiny_teacher.layers if "bn" in layer.name])
    assert teacher.preprocessing.mean == (0.3,)
    assert not teacher.outputs_probabilities and not teacher.model.trainable
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(teacher.model(x), tiny_teacher(x), atol=1e-5)
    assert "4 classes" in teacher.summary()


def test_softmax_output_is_recognised(tmp_path, tiny_teacher):
    probabilities = keras.layers.Softmax()(tiny_teacher.output)
    path = save_normalised_teacher(keras.Model(tiny_teacher.input, probabilities), tmp_path / "p.keras")
    assert load_teacher(path).outputs_probabilities


@pytest.mark.parametrize(
    "make, message",
    [(_no_batchnorm_model, "has no BatchNormalization layer"), (_vector_model, "is not an image model")],
)
def test_wrong_model_kinds(tmp_path, make, message):
    path = tmp_path / "m.keras"
    make().save(str(path))
    with pytest.raises(UserError, match=message):
        load_teacher(str(path))


def test_missing_and_corrupt_files(tmp_path, tiny_teacher):
    with pytest.raises(UserError, match="does not exist"):
        load_teacher(str(tmp_path / "absent.keras"))
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive at all" * 10)
    with pytest.raises(UserError, match="could not be loaded"):
        load_teacher(str(garbage))
    good = tmp_path / "good.h5"
    tiny_teacher.save(str(good))
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(UserError, match="could not be loaded"):
        load_teacher(str(truncated))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match="holds no saved_model.pb"):
        load_teacher(str(tmp_path / "empty_dir"))
    text_file = tmp_path / "teacher.txt"
    text_file.write_text("x")
    with pytest.raises(UserError, match="unknown suffix"):
        load_teacher(str(text_file))


def test_corrupt_record_is_reported(tmp_path, tiny_teacher):
    tiny_teacher.save(str(tmp_path / "teacher.keras"))
    (tmp_path / "teacher.json").write_text("{not json")
    with pytest.raises(UserError, match="is not valid JSON"):
        load_teacher(str(tmp_path / "teacher.keras"))


@pytest.mark.slow
def test_evaluate_tool_reports_bad_inputs_in_one_line(tmp_path):
    assert_user_error(run_tool("evaluate", "--model", tmp_path / "absent.keras"), "absent.keras", "does not exist")
    garbage = tmp_path / "teacher.keras"
    garbage.write_bytes(b"\x00" * 64)
    (tmp_path / "teacher.json").write_text(
        json.dumps({"dataset": "digits", "preprocessing": {"mean": [0], "std": [1]}})
    )
    assert_user_error(run_tool("evaluate", "--model", garbage), "teacher.keras", "could not be loaded")
    assert_user_error(run_tool("evaluate", "--modle", garbage), "modle")


def test_the_archived_teacher_still_loads():
    teacher = load_teacher(ARCHIVED_TEACHER)
    assert (teacher.input_shape, teacher.num_classes, teacher.outputs_probabilities) == ((28, 28, 1), 10, False)
    assert len(teacher.batchnorm_layers) == 21  # ResNet-20 with a projection BN in stages 2 and 3


def test_the_loader_imports_every_module_that_registers_a_class():
    """Saved generators and students name ``autorecon_tf>Class``; only an imported module has registered it."""
    for module in pkgutil.walk_packages(autorecon_tf.__path__, "autorecon_tf."):
        importlib.import_module(module.name)
    registered = {
        name: cls for name, cls in keras.saving.get_custom_objects().items() if name.startswith("autorecon_tf>")
    }
    assert {cls.__module__ for cls in registered.values()} == set(SERIALIZABLE_MODULES)
    assert {"LayerQuantizeConfig", "WeightQuantizer", "ActivationQuantizer"} <= {
        cls.__name__ for cls in registered.values()
    }


def test_require_logits_names_a_teacher_that_outputs_probabilities():
    from autorecon_tf.teachers.loader import require_logits, teacher_from_model

    image = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.BatchNormalization()(keras.layers.Conv2D(2, 3)(image)))
    info = {"preprocessing": {"mean": [0.0], "std": [1.0], "pad_to": 0}}
    logits = teacher_from_model(keras.Model(image, keras.layers.Dense(3)(x)), "logits.keras", info)
    assert require_logits(logits) is logits
    probabilities = keras.Model(image, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(UserError, match="'softmax.keras' outputs probabilities"):
        require_logits(teacher_from_model(probabilities, "softmax.keras", info))


def test_a_teacher_with_a_strided_1x1_conv_on_few_channels_caps_onednn_before_it_runs(monkeypatch, tiny_teacher):
    """The tiny teacher's shortcut (4 -> 8 channels, 1x1 stride 2) is the oneDNN bug's layer (compat's docstring)."""
    from autorecon_tf import compat
    from autorecon_tf.teachers.loader import teacher_from_model

    monkeypatch.setattr(compat, "cpu_flags", lambda: frozenset({"avx", "avx2"}))
    monkeypatch.setattr(compat, "_one_intra_op_thread", lambda: True)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.delenv(compat.ISA_ENV, raising=False)
    try:
        teacher_from_model(tiny_teacher, "tiny", {"preprocessing": {"mean": [0.0], "std": [1.0]}})
        assert os.environ.get(compat.ISA_ENV) == "AVX"
    finally:
        os.environ.pop(compat.ISA_ENV, None)  # the test process's own oneDNN started long ago: no effect here
