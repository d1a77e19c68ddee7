"""Same command, same numbers (issue 24): two runs, and a killed-and-resumed run, give bit-identical results.

Each tool runs as a user runs it, with ``--config.deterministic=True`` (a fresh process, so
``determinism.configure`` acts before TensorFlow starts); weights are compared by
``determinism.weights_digest``.
"""

import json
import os
import signal

import pytest

from compress_helpers import run_compress, tool_command, write_tiny_teacher
from conftest import make_tiny_teacher
from helpers import (
    PYTHON,
    REPO,
    kill_at_first_checkpoint,
    run_fresh_python,
    run_tool,
    save_normalised_teacher,
    tool_env,
)

pytestmark = pytest.mark.slow

SEARCH_CONFIG = os.path.join(REPO, "configs", "search_tiny.py")
DETERMINISTIC = "--config.deterministic=True"
TEACHER_CONFIG = os.path.join(REPO, "configs", "teacher_tiny_digits.py")


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    return write_tiny_teacher(str(tmp_path_factory.mktemp("teacher")), make_tiny_teacher)


@pytest.fixture(scope="module")
def first_compress(teacher_path, tmp_path_factory):
    """metrics.json of one uninterrupted ``tools/compress.py`` run (gdfq, smoke budget)."""
    workdir = str(tmp_path_factory.mktemp("first") / "run")
    result = run_compress(teacher_path, workdir, DETERMINISTIC)
    assert result.returncode == 0, result.stderr[-3000:]
    return _metrics(workdir)


def test_compress_twice_gives_the_same_student(teacher_path, first_compress, tmp_path):
    result = run_compress(teacher_path, str(tmp_path / "again"), DETERMINISTIC)
    assert result.returncode == 0, result.stderr[-3000:]
    again = _metrics(str(tmp_path / "again"))
    assert again["student_weights_sha256"] == first_compress["student_weights_sha256"]
    assert again["student_top1"] == first_compress["student_top1"]
    assert again["determinism"]["deterministic"] is True
    assert again["determinism"]["cpu"] and again["determinism"]["tensorflow"]


def test_a_killed_and_resumed_compress_ends_with_the_uninterrupted_student(teacher_path, first_compress, tmp_path):
    workdir = str(tmp_path / "resumed")
    status = kill_at_first_checkpoint(tool_command(teacher_path, workdir, DETERMINISTIC), workdir, tool_env())
    assert status == -signal.SIGKILL, "the run ended before the first checkpoint: nothing was killed"
    result = run_compress(teacher_path, workdir, DETERMINISTIC)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = _metrics(workdir)
    assert resumed["resumed_at_epochs"] == [1]
    assert resumed["student_weights_sha256"] == first_compress["student_weights_sha256"]


# Every image source but gdfq's (the tool tests above) twice, in one fresh process (determinism set before
# TensorFlow starts): run_compression, the tools' Python API. Prints {method: [[digest, top-1], ...]}.
_EVERY_METHOD_TWICE = """
import json, sys
from autorecon_tf import determinism
determinism.configure(0, True)
sys.path.insert(0, "tests")
from compress_helpers import tiny_config
from autorecon_tf.compat import tf
from autorecon_tf.pipelines.compress import run_compression
from autorecon_tf.pipelines.methods import METHODS
from autorecon_tf.search_space.genotype import random_genotype
from autorecon_tf.teachers.loader import load_teacher
teacher_path, directory = sys.argv[1], sys.argv[2]
genotype = directory + "/genotype.json"
random_genotype((8, 8, 1), 10, latent_dim=8).save(genotype)
runs = {}
for method in [name for name in METHODS if name != "gdfq"]:
    for attempt in (0, 1):
        metrics = run_compression(method, tiny_config(deterministic=True), load_teacher(teacher_path), 4, 4, 0,
                                  f"{directory}/{method}_{attempt}", tf.distribute.get_strategy(), genotype,
                                  log=lambda message: None)
        runs.setdefault(method, []).append([metrics["student_weights_sha256"], metrics["student_top1"]])
print(json.dumps(runs))
"""


def test_every_method_twice_gives_the_same_student(teacher_path, tmp_path):
    runs = run_fresh_python(_EVERY_METHOD_TWICE, teacher_path, tmp_path, timeout=1200)
    from autorecon_tf.pipelines.methods import METHODS

    assert set(runs) == set(METHODS) - {"gdfq"}
    for method, (first, second) in runs.items():
        assert first == second, method


def _search(teacher, workdir, *extra):
    args = (f"--config={SEARCH_CONFIG}", f"--teacher={teacher}", f"--workdir={workdir}", DETERMINISTIC, *extra)
    return args, run_tool("search", *args)


def _search_outputs(workdir):
    with open(os.path.join(workdir, "genotype.json"), encoding="utf-8") as handle:
        genotype = json.load(handle)
    with open(os.path.join(workdir, "alpha_history.json"), encoding="utf-8") as handle:
        history = json.load(handle)
    return genotype, history


@pytest.fixture(scope="module")
def search_teacher(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("search_teacher") / "teacher.keras")
    save_normalised_teacher(make_tiny_teacher(), path)
    return path


def test_search_twice_and_resumed_gives_the_same_genotype_and_alpha_history(search_teacher, tmp_path):
    runs = []
    for name in ("first", "again"):
        _, result = _search(search_teacher, str(tmp_path / name))
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append(_search_outputs(str(tmp_path / name)))
    assert runs[0] == runs[1]
    assert runs[0][0]["metadata"]["determinism"]["deterministic"] is True

    workdir = str(tmp_path / "resumed")
    args = (f"--config={SEARCH_CONFIG}", f"--teacher={search_teacher}", f"--workdir={workdir}", DETERMINISTIC)
    status = kill_at_first_checkpoint([PYTHON, os.path.join(REPO, "tools", "search.py"), *args], workdir)
    assert status == -signal.SIGKILL, "the search ended before its first checkpoint: nothing was killed"
    _, result = _search(search_teacher, workdir)
    assert result.returncode == 0 and "Resuming the search" in result.stdout, result.stderr[-3000:]
    assert _search_outputs(workdir) == runs[0]


def test_train_teacher_twice_gives_the_same_teacher(tmp_path):
    from autorecon_tf import determinism
    from autorecon_tf.teachers.loader import load_keras_model

    digests, records = [], []
    for name in ("first", "again"):
        workdir = tmp_path / name
        result = run_tool("train_teacher", f"--config={TEACHER_CONFIG}:smoke", f"--workdir={workdir}", DETERMINISTIC)
        assert result.returncode == 0, result.stderr[-3000:]
        digests.append(determinism.weights_digest(load_keras_model(str(workdir / "teacher.keras"), "teacher")))
        records.append(json.loads((workdir / "teacher.json").read_text()))
    assert digests[0] == digests[1]
    assert records[0]["test_top1"] == records[1]["test_top1"]
    assert records[0]["determinism"]["deterministic"] is True
