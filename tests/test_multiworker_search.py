"""--strategy=multiworker end to end for tools/search.py (tests/multiworker_helpers.py says what is checked)."""

import json
import os

import pytest

from helpers import PYTHON, REPO
from multiworker_helpers import assert_same_curve, epoch_logs, kill_and_relaunch, run_one_process

pytestmark = pytest.mark.slow

SEARCH_CONFIG = os.path.join(REPO, "configs", "search_tiny.py")


def _search(teacher, workdir, *extra):
    return [
        PYTHON,
        os.path.join(REPO, "tools", "search.py"),
        f"--config={SEARCH_CONFIG}:graph",
        f"--teacher={teacher}",
        f"--workdir={workdir}",
        "--config.deterministic=True",
        *extra,
    ]


@pytest.mark.timeout(1800)  # three runs in a row on a loaded 2-core machine
def test_search_on_two_workers_chief_killed_and_relaunched_matches_one_process(tiny_teacher_file, tmp_path):
    workdir = str(tmp_path / "run")
    command = _search(tiny_teacher_file, workdir, "--strategy=multiworker", "--config.search.epochs=3")
    done_before, results = kill_and_relaunch(command, workdir, str(tmp_path), victim=0)
    resumed_at = int(results[0][1].split("Resuming the search from epoch ")[1].split()[0])
    assert 1 <= resumed_at and done_before - resumed_at <= 1, (done_before, resumed_at)
    assert "2 replica(s)" in results[0][1] and "Discovered generator:" in results[0][1]
    assert {"genotype.json", "genotype.png", "alpha_history.json", "checkpoints"} <= set(os.listdir(workdir))
    with open(os.path.join(workdir, "alpha_history.json"), encoding="utf-8") as handle:
        assert [entry["epoch"] for entry in json.load(handle)["history"]] == [1, 2, 3]

    reference = str(tmp_path / "one_process")
    run_one_process(
        _search(tiny_teacher_file, reference, "--strategy=mirrored", "--cpu_devices=2", "--config.search.epochs=3")
    )
    assert_same_curve(epoch_logs(workdir), epoch_logs(reference), ("reconstruction", "ce", "bns"))
    with (
        open(os.path.join(workdir, "genotype.json"), encoding="utf-8") as a,
        open(os.path.join(reference, "genotype.json"), encoding="utf-8") as b,
    ):
        assert json.load(a)["edges"] == json.load(b)["edges"]
