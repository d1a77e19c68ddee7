"""tools/search.py as a user runs it: bad teachers, artifacts, SIGKILL resume, MirroredStrategy on 2 CPU devices."""

import json
import os
import signal

import pytest

from autorecon_tf.compat import keras
from autorecon_tf.generators.from_genotype import build_generator_from_genotype
from autorecon_tf.search_space import load_genotype

from conftest import make_tiny_teacher
from helpers import PYTHON, REPO, assert_user_error, kill_at_first_checkpoint, run_tool, save_normalised_teacher

CONFIG = os.path.join(REPO, "configs", "search_tiny.py")


def _search_args(teacher, workdir, *extra):
    return (f"--config={CONFIG}", f"--teacher={teacher}", f"--workdir={workdir}", *extra)


def test_teacher_without_batchnorm_exits_2_with_one_line(tmp_path):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(4)(keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs)))
    path = str(tmp_path / "plain.keras")
    keras.Model(inputs, outputs).save(path)
    result = run_tool("search", *_search_args(path, tmp_path / "run"))
    assert_user_error(result, "plain.keras", "no BatchNormalization layer")
    assert not (tmp_path / "run" / "genotype.json").exists()


def test_missing_teacher_and_bad_strategy_are_named(tmp_path):
    result = run_tool("search", *_search_args(tmp_path / "nope.keras", tmp_path / "run"))
    assert_user_error(result, "teacher", "nope.keras", "does not exist")
    result = run_tool("search", *_search_args(tmp_path / "nope.keras", tmp_path / "run", "--strategy=tpu"))
    assert_user_error(result, "--strategy")


def _check_artifacts(workdir, epochs):
    genotype = load_genotype(os.path.join(workdir, "genotype.json"), (8, 8, 1), 4)
    assert genotype.metadata["gumbel_form"] == "paper"
    for name in ("genotype.png", "alphas.png"):
        with open(os.path.join(workdir, name), "rb") as handle:
            assert handle.read(4) == b"\x89PNG"
    with open(os.path.join(workdir, "alpha_history.json"), encoding="utf-8") as handle:
        history = json.load(handle)["history"]
    assert [entry["epoch"] for entry in history] == list(range(1, epochs + 1))
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    generator = build_generator_from_genotype(genotype, channel_scale=0.0625)
    assert tuple(generator.outputs[0].shape) == (None, 8, 8, 1)
    return genotype


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_writes_the_artifacts(tiny_teacher_file, tmp_path):
    workdir = str(tmp_path / "run")
    args = _search_args(tiny_teacher_file, workdir, "--config.search.epochs=3")
    status = kill_at_first_checkpoint([PYTHON, os.path.join(REPO, "tools", "search.py"), *args], workdir)
    assert status == -signal.SIGKILL, "the search ended before its first checkpoint: nothing was killed"
    assert not os.path.exists(os.path.join(workdir, "genotype.json"))

    result = run_tool("search", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming the search from epoch" in result.stdout
    resumed_at = int(result.stdout.split("Resuming the search from epoch ")[1].split()[0])
    assert 1 <= resumed_at < 3
    _check_artifacts(workdir, epochs=3)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices(tiny_teacher_file, tmp_path):
    workdir = str(tmp_path / "run")
    # 1 warm-up epoch + 1 search epoch: both phases run on 2 replicas
    result = run_tool(
        "search",
        *_search_args(tiny_teacher_file, workdir, "--strategy=mirrored", "--cpu_devices=2", "--config.search.epochs=2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stdout
    _check_artifacts(workdir, epochs=2)


@pytest.mark.slow
def test_a_search_workdir_cannot_resume_with_another_config_or_teacher(tiny_teacher_file, tmp_path):
    from autorecon_tf.cli import load_config
    from autorecon_tf.errors import UserError
    from autorecon_tf.pipelines.search import run_search

    def config(**search):
        config = load_config(CONFIG, "eager")
        config.search.update({"epochs": 1, "warmup_epochs": 1, **search})
        return config

    workdir = str(tmp_path / "run")
    run_search(config(), workdir, tiny_teacher_file)
    with open(os.path.join(workdir, "run.json"), encoding="utf-8") as handle:
        assert json.load(handle)["teacher"] == os.path.abspath(tiny_teacher_file)
    # (The same settings resume: test_sigkill_then_rerun_resumes_and_writes_the_artifacts.)
    with pytest.raises(UserError, match=r"other settings \(config\)") as error:
        run_search(config(epochs=2), workdir, tiny_teacher_file)
    assert "\n" not in str(error.value)
    other = str(tmp_path / "other.keras")
    save_normalised_teacher(make_tiny_teacher(seed=1), other)
    with pytest.raises(UserError, match=r"other settings \(teacher\)"):
        run_search(config(), workdir, other)
