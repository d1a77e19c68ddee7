"""--strategy=multiworker end to end for tools/compress.py (tests/multiworker_helpers.py says what is checked)."""

import json
import os

import pytest

from compress_helpers import tool_command, write_tiny_teacher
from conftest import make_tiny_teacher
from multiworker_helpers import assert_same_curve, epoch_logs, kill_and_relaunch, run_one_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def compress_teacher(tmp_path_factory):
    return write_tiny_teacher(str(tmp_path_factory.mktemp("teacher")), make_tiny_teacher)


def _compress(teacher, workdir, *extra):
    return tool_command(teacher, workdir, "--config.deterministic=True", *extra)


def _no_metrics(workdir):
    assert not os.path.exists(os.path.join(workdir, "metrics.json"))  # killed before the end


# One test per tool covers a cluster's whole contract, because each cluster launch costs a minute of tracing on
# 2 cores: the 2-worker run is killed, relaunched, and must still end on the one-process run's curve and weights
# (a resume is exact: tests/test_same_numbers.py).
@pytest.mark.timeout(1800)  # three runs in a row on a loaded 2-core machine
def test_compress_on_two_workers_killed_and_relaunched_matches_one_process(compress_teacher, tmp_path):
    workdir = str(tmp_path / "run")
    command = _compress(compress_teacher, workdir, "--strategy=multiworker", "--config.epochs=3")
    done_before, results = kill_and_relaunch(command, workdir, str(tmp_path), victim=1, check_killed=_no_metrics)
    assert "Resuming gdfq from the checkpoint after epoch" in results[0][1]
    assert "gdfq W4A4: student top-1" in results[0][1]
    assert {"student.keras", "generator.keras", "metrics.json", "checkpoints", "tensorboard"} <= set(
        os.listdir(workdir)
    )
    with open(os.path.join(workdir, "metrics.json"), encoding="utf-8") as handle:
        metrics = json.load(handle)
    (resumed_at,) = metrics["resumed_at_epochs"]
    assert 1 <= resumed_at and done_before - resumed_at <= 1, (done_before, resumed_at)
    assert metrics["replicas"] == 2 and metrics["images_seen"] == 3 * 2 * 8  # global batch 8 = 2 x 4

    reference = str(tmp_path / "one_process")
    run_one_process(
        _compress(compress_teacher, reference, "--strategy=mirrored", "--cpu_devices=2", "--config.epochs=3")
    )
    keys = ("generator_loss", "bns", "generator_ce", "student_loss")
    assert_same_curve(epoch_logs(workdir), epoch_logs(reference), keys)
    with open(os.path.join(reference, "metrics.json"), encoding="utf-8") as handle:
        assert json.load(handle)["student_weights_sha256"] == metrics["student_weights_sha256"]
