"""tools/distill.py end to end on the tiny digits teacher: one-line errors, every objective, export, SIGKILL resume."""

import json
import os
import signal

import pytest

from autorecon_tf.cli import load_config
from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError

from compress_helpers import write_tiny_teacher
from conftest import make_tiny_teacher
from distill_helpers import CONFIG, TINY_OVERRIDES, run_distill, tool_command
from helpers import assert_user_error, kill_at_first_checkpoint

_IDENTITY = {"mean": [0.0], "std": [1.0], "pad_to": 0}


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    return write_tiny_teacher(str(tmp_path_factory.mktemp("teacher")), make_tiny_teacher)


def _config(**overrides):
    return load_config(CONFIG, "smoke", {**TINY_OVERRIDES, **overrides})


@pytest.mark.parametrize(
    "objective, generator, overrides, words",
    [
        ("gan", "dfad", {}, ["'gan'", "adversarial", "real"]),
        ("adversarial", "vae", {}, ["'vae'", "dfad, gdfq, searched"]),
        ("reconstruction", "dfad", {}, ["unconditional", "gdfq, searched"]),
        ("adversarial", "dfad", {"student.architecture": "vgg"}, ["'vgg'", "resnet20"]),
        ("adversarial", "dfad", {"student.width": 0.0}, ["student.width=0.0"]),
        ("adversarial", "dfad", {"export.kind": "onnx"}, ["'onnx'", "float, int8"]),
        ("adversarial", "dfad", {"student_steps": 0}, ["student_steps=0"]),
    ],
)
def test_check_names_what_cannot_run(objective, generator, overrides, words):
    from autorecon_tf.pipelines.distill import check

    with pytest.raises(UserError) as error:
        check(_config(**overrides), objective, generator)
    for word in words:
        assert word in str(error.value)


def test_bad_inputs_get_one_line_and_exit_2(teacher_path, tmp_path):
    result = run_distill(teacher_path, str(tmp_path / "a"), "--objective=reconstruction", "--generator=dfad")
    assert_user_error(result, "unconditional")
    result = run_distill(teacher_path, str(tmp_path / "b"), "--generator=searched")
    assert_user_error(result, "--genotype")
    result = run_distill(teacher_path, str(tmp_path / "c"), "--objective=dfad")
    assert_user_error(result, "--objective", "dfad")
    assert not (tmp_path / "a").exists()  # a failed start leaves no workdir


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.slow
@pytest.mark.parametrize(
    "objective, generator", [("reconstruction", "searched"), ("dafl", "gdfq"), ("adversarial+reconstruction", "gdfq")]
)
def test_every_objective_runs_in_process(teacher_path, tmp_path, objective, generator):
    from autorecon_tf.pipelines.distill import run_distillation
    from autorecon_tf.search_space.genotype import random_genotype
    from autorecon_tf.teachers.loader import load_teacher

    genotype = str(tmp_path / "genotype.json")
    random_genotype((8, 8, 1), 10, latent_dim=8).save(genotype)
    workdir = str(tmp_path / "run")
    teacher = load_teacher(teacher_path)
    metrics = run_distillation(objective, generator, _config(), teacher, 0, workdir, genotype, log=lambda _: None)
    assert metrics["data_free"] and metrics["objective"] == objective and metrics["generator"] == generator
    assert metrics["budget"]["student_steps"] == 2 * 2 * 2 and metrics["images_seen"] == 4 * 8 * 3
    assert set(metrics["final_train_metrics"]) >= {"generator_loss", "student_loss"}
    assert metrics["dataset"] == "digits" and 0.0 <= metrics["student_top1"] <= 1.0
    assert os.path.exists(os.path.join(workdir, "generator.keras"))


@pytest.mark.slow
def test_real_kd_is_not_data_free_and_exports_float(teacher_path, tmp_path):
    workdir = str(tmp_path / "run")
    result = run_distill(teacher_path, workdir, "--objective=real", overrides={"export.kind": "float"})
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = _metrics(workdir)
    assert metrics["data_free"] is False and metrics["generator"] is None
    assert metrics["images_seen"] == 4 * 8 * 2 and metrics["fidelity"]["source"] == "noise"
    assert metrics["export"]["kind"] == "float" and metrics["export"]["keras_agreement"] > 0.99
    assert not os.path.exists(os.path.join(workdir, "generator.keras"))


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_writes_the_artifacts(teacher_path, tmp_path):
    workdir = str(tmp_path / "run")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = tool_command(teacher_path, workdir, overrides={"export.kind": "int8"})
    status = kill_at_first_checkpoint(command, workdir, env)
    assert status == -signal.SIGKILL, "the run ended before the first checkpoint: nothing was killed"
    assert not os.path.exists(os.path.join(workdir, "metrics.json"))

    result = run_distill(teacher_path, workdir, overrides={"export.kind": "int8"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming adversarial from the checkpoint after epoch 1" in result.stdout
    metrics = _metrics(workdir)
    assert metrics["resumed_at_epochs"] == [1] and metrics["data_free"] is True
    assert metrics["teacher_top1"] is not None and metrics["export"]["kind"] == "int8"
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    assert os.path.getsize(os.path.join(workdir, "student.tflite")) == metrics["export"]["size_bytes"]
    saved = {name for name, _ in tf.train.list_variables(os.path.join(workdir, "checkpoints"))}
    assert any("generator_optimizer" in name for name in saved)
    assert any("student_optimizer" in name for name in saved)

    rerun = run_distill(teacher_path, workdir, "--seed=1")
    assert_user_error(rerun, "other settings", "seed")


@pytest.mark.parametrize("architecture, width", [("resnet20", 0.25), ("resnet18", 0.125), ("mobilenet_v2", 0.35)])
def test_the_student_is_any_zoo_architecture_at_a_width(architecture, width):
    from autorecon_tf.pipelines.distill import build_distill_student
    from autorecon_tf.teachers.loader import teacher_from_model
    from autorecon_tf.teachers.registry import WIDTH_OPTIONS, build_teacher

    teacher = teacher_from_model(make_tiny_teacher((32, 32, 1), 10), "tiny", {"preprocessing": _IDENTITY})
    student = build_distill_student(_config(**{"student.architecture": architecture, "student.width": width}), teacher)
    assert student.name == "student" and tuple(student.outputs[0].shape) == (None, 10)
    reference = build_teacher(architecture, (32, 32, 1), 10, **{WIDTH_OPTIONS[architecture]: width})
    assert student.count_params() == reference.count_params()
    assert student.count_params() < build_teacher(architecture, (32, 32, 1), 10).count_params()
