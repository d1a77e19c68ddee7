"""tools/compress.py end to end on a tiny digits teacher: errors, artifacts, SIGKILL resume, MirroredStrategy."""

import json
import os
import signal

import pytest

from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError

from compress_helpers import run_compress, tool_command, write_tiny_teacher
from conftest import make_tiny_teacher
from helpers import kill_at_first_checkpoint

METRIC_FIELDS = {
    "method",
    "generator",
    "data_free",
    "weight_bits",
    "activation_bits",
    "seed",
    "teacher_top1",
    "teacher_top5",
    "student_top1",
    "student_top5",
    "budget",
    "images_seen",
    "generated_images_seen",
    "wall_time_seconds",
    "dataset",
}


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    return write_tiny_teacher(str(tmp_path_factory.mktemp("teacher")), make_tiny_teacher)


def _assert_one_line_error(result, *words):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("flag, value", [("--weight_bits", "1"), ("--activation_bits", "9"), ("--weight_bits", "four")])
def test_unsupported_bits_exit_2_naming_them(teacher_path, tmp_path, flag, value):
    result = run_compress(teacher_path, str(tmp_path / "run"), f"{flag}={value}")
    _assert_one_line_error(result, flag, value, "2 to 8")


def test_searched_generator_needs_a_genotype(teacher_path, tmp_path):
    result = run_compress(teacher_path, str(tmp_path / "run"), "--generator=searched")
    _assert_one_line_error(result, "--genotype")


def test_a_genotype_that_fails_to_load_leaves_no_workdir(teacher_path, tmp_path):
    genotype = tmp_path / "genotype.json"
    genotype.write_text('{"version":')
    workdir = tmp_path / "run"
    result = run_compress(teacher_path, str(workdir), "--generator=searched", f"--genotype={genotype}")
    _assert_one_line_error(result, "is not valid JSON", "tools/search.py")
    assert not workdir.exists()


def test_a_workdir_that_cannot_be_written_is_named(teacher_path):
    result = run_compress(teacher_path, "/proc/autorecon/run")
    _assert_one_line_error(result, "--workdir '/proc/autorecon/run' cannot be written")


def test_unknown_generator_is_named(teacher_path, tmp_path):
    result = run_compress(teacher_path, str(tmp_path / "run"), "--generator=gan")
    _assert_one_line_error(result, "'gan'", "gdfq")


def _check_artifacts(workdir, method="gdfq", replicas=1):
    with open(os.path.join(workdir, "metrics.json"), encoding="utf-8") as handle:
        metrics = json.load(handle)
    assert METRIC_FIELDS <= set(metrics)
    assert metrics["method"] == method and metrics["data_free"] is True
    assert (metrics["weight_bits"], metrics["activation_bits"]) == (4, 4)
    assert metrics["generated_images_seen"] == 2 * 2 * 8 and metrics["replicas"] == replicas
    assert 0.0 <= metrics["student_top1"] <= metrics["student_top5"] <= 1.0
    assert metrics["dataset"] == "digits" and metrics["test_examples"] == 360
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    from autorecon_tf.quantization import is_quantized_student
    from autorecon_tf.teachers.loader import load_keras_model

    student = load_keras_model(os.path.join(workdir, "student.keras"), "student")
    assert is_quantized_student(student)
    assert tuple(student.outputs[0].shape) == (None, 10)
    return metrics


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_writes_the_artifacts(teacher_path, tmp_path):
    workdir = str(tmp_path / "run")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    status = kill_at_first_checkpoint(tool_command(teacher_path, workdir), workdir, env)
    assert status == -signal.SIGKILL, "the run ended before the first checkpoint: nothing was killed"
    assert not os.path.exists(os.path.join(workdir, "metrics.json"))

    result = run_compress(teacher_path, workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming gdfq from the checkpoint after epoch 1" in result.stdout
    resume_lines = [line for line in (result.stdout + result.stderr).splitlines() if "esum" in line]
    assert len(resume_lines) == 1, resume_lines  # said once, not also by the callback and an absl INFO line
    metrics = _check_artifacts(workdir)
    assert metrics["resumed_at_epochs"] == [1]
    saved = {name for name, _ in tf.train.list_variables(os.path.join(workdir, "checkpoints"))}
    assert any("generator_optimizer" in name for name in saved)
    assert any("student_optimizer" in name for name in saved)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices(teacher_path, tmp_path):
    workdir = str(tmp_path / "run")
    result = run_compress(teacher_path, workdir, "--strategy=mirrored", "--cpu_devices=2")
    assert result.returncode == 0, result.stderr[-3000:]
    _check_artifacts(workdir, replicas=2)


def test_searched_generator_is_built_from_the_genotype(teacher_path, tmp_path):
    from autorecon_tf.pipelines.methods import build_generator
    from autorecon_tf.search_space.genotype import random_genotype
    from autorecon_tf.teachers.loader import load_teacher

    from compress_helpers import tiny_config

    teacher = load_teacher(teacher_path)
    genotype_path = str(tmp_path / "genotype.json")
    random_genotype((8, 8, 1), 10, latent_dim=12).save(genotype_path)
    generator = build_generator("searched", tiny_config(), teacher, genotype_path)
    assert [tuple(t.shape) for t in generator.inputs] == [(None, 12), (None,)]
    assert tuple(generator.outputs[0].shape) == (None, 8, 8, 1)
    random_genotype((28, 28, 1), 10).save(genotype_path)
    with pytest.raises(UserError, match="searched for input"):
        build_generator("searched", tiny_config(), teacher, genotype_path)


@pytest.mark.parametrize("key, value", [("epochs", 0), ("warmup_epochs", 5), ("batch_size", 0)])
def test_impossible_budgets_are_named(key, value):
    from autorecon_tf.pipelines.compress import check_budget

    from compress_helpers import tiny_config

    with pytest.raises(UserError, match=f"config.{key}"):
        check_budget(tiny_config(**{key: value}))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["noise", "zeroq", "real", "searched"])
def test_every_method_runs_in_process(teacher_path, tmp_path, method):
    from autorecon_tf.pipelines.compress import run_compression
    from autorecon_tf.quantization import build_student
    from autorecon_tf.search_space.genotype import random_genotype
    from autorecon_tf.teachers.loader import load_teacher

    from compress_helpers import tiny_config

    teacher = load_teacher(teacher_path)
    genotype_path = str(tmp_path / "genotype.json")
    random_genotype((8, 8, 1), 10, latent_dim=8).save(genotype_path)
    workdir = str(tmp_path / method)
    metrics = run_compression(
        method,
        tiny_config(),
        teacher,
        4,
        4,
        0,
        workdir,
        tf.distribute.get_strategy(),
        genotype_path,
        log=lambda message: None,
    )
    assert metrics["data_free"] is (method != "real")
    assert metrics["budget"]["student_steps"] == (0 if method == "noise" else 2)
    expected = {"noise": 16, "zeroq": 16, "real": 0, "searched": 32}[method]
    assert metrics["generated_images_seen"] == expected
    assert os.path.exists(os.path.join(workdir, "student.keras"))
    assert os.path.exists(os.path.join(workdir, "zeroq_images.npy")) is (method == "zeroq")
    if method == "noise":  # calibration only: the student's weights are the teacher's
        from autorecon_tf.teachers.loader import load_keras_model

        saved = load_keras_model(os.path.join(workdir, "student.keras"), "student")
        fresh = build_student(teacher.model, 4, 4)
        for a, b in zip(saved.trainable_variables, fresh.trainable_variables):
            assert (a.numpy() == b.numpy()).all()
