"""keras-tuner's random and Bayesian search over genotypes: budget, no real data, determinism, resume."""

import errno
import json
import os
import signal

import pytest

from autorecon_tf.cli import load_config
from autorecon_tf.errors import UserError
from autorecon_tf.pipelines import tuner_search
from autorecon_tf.search_space import load_genotype

from conftest import REPO
from helpers import PYTHON, assert_user_error, kill_at_first_checkpoint, run_tool

TINY = os.path.join(REPO, "configs", "search_tiny.py")
STANDARD = os.path.join(REPO, "configs", "search_resnet20_fmnist.py")


@pytest.fixture
def no_real_data(monkeypatch, tmp_path):
    """Every loader of real images raises, and the Fashion-MNIST directory does not exist: the objective needs none."""
    import sklearn.datasets

    from autorecon_tf.compat import keras
    from autorecon_tf.data import datasets, eval_data, idx

    def refuse(*args, **kwargs):
        raise AssertionError("the tuner's objective read real data")

    monkeypatch.setenv("AUTORECON_FASHION_MNIST_DIR", str(tmp_path / "no_data"))
    for module, name in (
        (datasets, "load_fashion_mnist"),
        (datasets, "load_digits"),
        (datasets, "load_dataset"),
        (datasets, "read_idx"),
        (idx, "read_idx"),
        (eval_data, "load_eval_data"),
        (eval_data, "run_data"),
        (sklearn.datasets, "load_digits"),
        (keras.datasets.fashion_mnist, "load_data"),
        (keras.datasets.mnist, "load_data"),
    ):
        monkeypatch.setattr(module, name, refuse)


def _read(workdir, name):
    with open(os.path.join(workdir, name), encoding="utf-8") as handle:
        return json.load(handle)


def test_the_budget_matches_one_gumbel_search_in_generated_images():
    tiny = tuner_search.budget(load_config(TINY))
    # Gumbel: 1 warm-up step of 4 images + 2 steps of 4 weight + 4 architecture images.
    assert tiny == {"gumbel_search_images": 20, "images_per_trial": 8, "max_trials": 2, "budget_images": 16}
    standard = tuner_search.budget(load_config(STANDARD, "standard"))
    assert standard["gumbel_search_images"] == 64 * (2 * 50 + 10 * 50 * 2)
    assert standard["max_trials"] == 10 and standard["budget_images"] <= standard["gumbel_search_images"]
    assert tuner_search.budget(load_config(TINY, overrides={"tuner.max_trials": 5}))["max_trials"] == 5


@pytest.mark.parametrize(
    "method,overrides,fragment",
    [
        ("gumbel", {}, "--method='gumbel' is not a tuner method"),
        ("random", {"tuner.steps": 0}, "config.tuner.steps=0"),
        ("random", {"tuner.max_trials": -1}, "config.tuner.max_trials=-1"),
        ("bayesian", {"tuner.bayesian_initial_points": 0}, "config.tuner.bayesian_initial_points=0"),
        ("random", {"tuner.heldout_seed": 0}, "equals config.seed"),
    ],
)
def test_bad_methods_and_tuner_values_are_one_line_errors(method, overrides, fragment):
    with pytest.raises(UserError, match=fragment) as error:
        tuner_search.check_config(method, load_config(TINY, overrides=overrides))
    assert "\n" not in str(error.value)


def test_a_budget_below_one_trial_is_a_one_line_error():
    with pytest.raises(UserError, match="lower config.tuner.steps"):
        tuner_search.budget(load_config(TINY, overrides={"tuner.steps": 100}))


def _random_search(tiny_teacher_file, workdir):
    """A 2-trial random search on the tiny config; checks its artifacts; returns the genotype and the trial table."""
    genotype = tuner_search.run_tuner_search(load_config(TINY), str(workdir), "random", tiny_teacher_file)
    assert load_genotype(os.path.join(workdir, "genotype.json"), (8, 8, 1), 4) == genotype
    assert genotype.metadata["method"] == "keras_tuner_random"
    table = _read(workdir, "trials.json")["trials"]
    assert [row["status"] for row in table] == ["COMPLETED", "COMPLETED"]
    assert all(row["images"] == 8 and row["heldout_reconstruction"] > 0 for row in table)
    assert {"heldout_feature_distance", "heldout_prediction_entropy", "heldout_ce", "heldout_bns"} <= set(table[0])
    summary = _read(workdir, "tuner.json")
    assert summary["images_used"] == summary["budget_images"] == 16 and summary["gumbel_search_images"] == 20
    return genotype, table


def test_two_random_trials_run_end_to_end_without_real_data_and_reload(
    tiny_teacher_file, tmp_path, no_real_data, capsys
):
    genotype, _ = _random_search(tiny_teacher_file, tmp_path)
    # The same command again reloads keras-tuner's project: no new trial, the same genotype.
    capsys.readouterr()
    again = tuner_search.run_tuner_search(load_config(TINY), str(tmp_path), "random", tiny_teacher_file)
    assert "Reloading Tuner" in capsys.readouterr().out
    assert again.ops == genotype.ops and len(_read(tmp_path, "trials.json")["trials"]) == 2


def test_a_write_of_keras_tuners_files_that_dies_leaves_the_previous_file(tmp_path, monkeypatch):
    # keras-tuner writes oracle.json in place, so a kill mid-write left a truncated file that the resume could not
    # parse; ours goes through a temporary file and a rename. Here the rename fails: the old file must survive whole.
    oracle = tuner_search.make_oracle("random", load_config(TINY), 2)
    oracle._set_project_dir(str(tmp_path), "project")
    oracle.save()
    path = tmp_path / "project" / "oracle.json"
    before = json.loads(path.read_text())

    def die(source, target):
        raise OSError(errno.EIO, "killed before the rename")

    monkeypatch.setattr(os, "replace", die)
    oracle.max_trials = 5
    with pytest.raises(OSError, match="killed before the rename"):
        oracle.save()
    assert json.loads(path.read_text()) == before and os.listdir(tmp_path / "project") == ["oracle.json"]


@pytest.mark.slow  # two searches, ~10 s
def test_the_search_repeats_itself_under_a_seed(tiny_teacher_file, tmp_path):
    (first, first_table), (second, second_table) = (_random_search(tiny_teacher_file, tmp_path / run) for run in "ab")
    assert first.ops == second.ops
    assert [row["edges"] for row in first_table] == [row["edges"] for row in second_table]
    # Eager tiny steps repeat bit for bit; the standard shapes need config.deterministic=True for that.
    assert [row["heldout_reconstruction"] for row in first_table] == [
        row["heldout_reconstruction"] for row in second_table
    ]


def test_a_workdir_of_one_method_does_not_resume_as_another(tiny_teacher_file, tmp_path):
    workdir = str(tmp_path / "run")
    tuner_search.run_tuner_search(
        load_config(TINY, overrides={"tuner.max_trials": 1}), workdir, "random", tiny_teacher_file
    )
    with pytest.raises(UserError, match=r"other settings \(method\)"):
        tuner_search.run_tuner_search(
            load_config(TINY, overrides={"tuner.max_trials": 1}), workdir, "bayesian", tiny_teacher_file
        )


@pytest.mark.slow  # ~20 s: keras-tuner's proposal runs 50 L-BFGS restarts over the 33 edges
def test_bayesian_search_proposes_after_its_initial_points(tiny_teacher_file, tmp_path, no_real_data):
    # The tiny config's one initial (random) trial, then one trial the Gaussian process proposes.
    genotype = tuner_search.run_tuner_search(load_config(TINY), str(tmp_path / "run"), "bayesian", tiny_teacher_file)
    table = _read(tmp_path / "run", "trials.json")["trials"]
    assert [row["status"] for row in table] == ["COMPLETED"] * 2
    assert table[0]["edges"] != table[1]["edges"]
    assert genotype.metadata["method"] == "keras_tuner_bayesian" and genotype.metadata["tuner"]["max_trials"] == 2


@pytest.mark.slow
def test_search_tool_random_writes_the_genotype_and_resumes_after_a_kill(tiny_teacher_file, tmp_path):
    """tools/search.py --method=random, killed while its second trial runs, then re-run: keras-tuner's project
    reloads, the interrupted trial runs again, and the genotype is the one of a run that was never killed."""
    args = [f"--config={TINY}", f"--teacher={tiny_teacher_file}", "--method=random"]
    whole = run_tool("search", *args, f"--workdir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert "Discovered generator:" in whole.stdout and whole.stderr == ""

    workdir = str(tmp_path / "killed")
    command = [PYTHON, os.path.join(REPO, "tools", "search.py"), *args, f"--workdir={workdir}"]
    status = kill_at_first_checkpoint(command, workdir, marker=os.path.join("keras_tuner", "trial_1", "trial.json"))
    assert status == -signal.SIGKILL, "the search ended before its second trial began: nothing was killed"
    assert not os.path.exists(os.path.join(workdir, "genotype.json"))
    resumed = run_tool("search", *args, f"--workdir={workdir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Reloading Tuner" in resumed.stdout
    assert load_genotype(os.path.join(workdir, "genotype.json")) == load_genotype(
        os.path.join(tmp_path / "whole", "genotype.json")
    )
    assert [row["status"] for row in _read(workdir, "trials.json")["trials"]] == ["COMPLETED", "COMPLETED"]


@pytest.mark.slow  # two tool processes, ~10 s
def test_search_tool_refuses_an_unknown_method_and_a_strategy_for_the_tuner(tiny_teacher_file, tmp_path):
    args = [f"--config={TINY}", f"--teacher={tiny_teacher_file}", f"--workdir={tmp_path / 'run'}"]
    assert_user_error(run_tool("search", *args, "--method=grid"), "--method='grid' is unknown", "gumbel")
    result = run_tool("search", *args, "--method=bayesian", "--strategy=mirrored")
    assert_user_error(result, "--method=bayesian runs on one device")
    assert not os.path.exists(tmp_path / "run")
