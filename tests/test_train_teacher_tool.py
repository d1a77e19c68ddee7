"""tools/train_teacher.py end to end on the tiny digits config: output, resume after SIGKILL, reuse, errors."""

import json
import os
import signal
import subprocess
import time

import pytest

from helpers import PYTHON, REPO, assert_user_error, run_tool, tool_env

CONFIG = os.path.join("configs", "teacher_tiny_digits.py") + ":smoke"


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_finishes(tmp_path):
    workdir = tmp_path / "teacher"
    args = [
        PYTHON,
        os.path.join(REPO, "tools", "train_teacher.py"),
        "--config",
        CONFIG,
        "--config.epochs=8",
        "--workdir",
        str(workdir),
    ]
    process = subprocess.Popen(args, cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    progress = workdir / "progress.json"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if progress.exists() and json.loads(progress.read_text())["epochs_done"] >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, (
        "training finished before it could be killed: " + process.stdout.read().decode()[-2000:]
    )
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = json.loads(progress.read_text())["epochs_done"]
    assert not (workdir / "teacher.keras").exists(), "a killed run must not leave a teacher behind"

    rerun = run_tool("train_teacher", "--config", CONFIG, "--config.epochs=8", "--workdir", workdir)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Resuming from the checkpoint after epoch" in rerun.stdout
    resumed_at = int(rerun.stdout.split("Resuming from the checkpoint after epoch")[1].split()[0])
    assert resumed_at >= killed_at >= 2
    record = json.loads((workdir / "teacher.json").read_text())
    assert record["resumed_at_epochs"] == [resumed_at]
    state = json.loads(progress.read_text())
    assert state["epochs_done"] == 8 and len(state["epoch_seconds"]) <= 8, "the resumed run must not start over"
    assert record["test_top1"] > 0.5 and record["dataset"] == "digits"
    assert os.listdir(workdir / "tensorboard")

    again = run_tool("train_teacher", "--config", CONFIG, "--config.epochs=8", "--workdir", workdir)
    assert again.returncode == 0 and "Reusing the finished teacher" in again.stdout

    evaluated = run_tool("evaluate", "--model", workdir / "teacher.keras", "--output", tmp_path / "eval.json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads((tmp_path / "eval.json").read_text())["top1"] == pytest.approx(record["test_top1"], abs=1e-6)
    assert not (workdir / "checkpoints").exists(), "the checkpoints go once the teacher is saved"

    # A second stage: the finished teacher, no more epochs, BatchNorm statistics re-estimated.
    stage = tmp_path / "recalibrated"
    recalibrated = run_tool(
        "train_teacher",
        "--config",
        CONFIG,
        f"--config.init_from={workdir / 'teacher.keras'}",
        "--config.epochs=0",
        "--config.bn_recalibration_batches=3",
        "--workdir",
        stage,
    )
    assert recalibrated.returncode == 0, recalibrated.stderr[-3000:]
    second = json.loads((stage / "teacher.json").read_text())
    assert second["initialized_from"]["test_top1"] == record["test_top1"]
    assert second["bn_recalibration"]["test_top1_before"] == pytest.approx(record["test_top1"], abs=1e-6)
    assert second["bn_recalibration"]["images"] > 0 and second["preprocessing"] == record["preprocessing"]


@pytest.mark.slow
def test_bad_inputs_exit_2_with_one_line(tmp_path):
    assert_user_error(
        run_tool("train_teacher", "--config", CONFIG, "--config.epochs=0", "--workdir", tmp_path), "config.epochs=0"
    )
    assert_user_error(run_tool("train_teacher", "--config", "configs/absent.py", "--workdir", tmp_path), "absent.py")
    assert_user_error(
        run_tool("train_teacher", "--config", CONFIG.replace(":smoke", ":nope"), "--workdir", tmp_path),
        "unknown preset 'nope'",
    )
    assert_user_error(run_tool("train_teacher", "--config", CONFIG), "--workdir is required")
    assert_user_error(
        run_tool(
            "train_teacher", "--config", CONFIG, "--config.init_from=/absent/teacher.keras", "--workdir", tmp_path
        ),
        "config.init_from='/absent/teacher.keras' does not exist",
    )
    assert_user_error(
        run_tool(
            "train_teacher",
            "--config",
            CONFIG,
            "--workdir",
            tmp_path,
            "--data_dir",
            tmp_path,
            "--config.dataset=fashion_mnist",
        ),
        "dataset-fashion-mnist",
    )
    assert not any(name.endswith(".keras") for name in os.listdir(tmp_path))
