"""A default run prints only the project's own lines: no TensorFlow start-up noise, one progress line per epoch."""

import os
import re
import subprocess
import sys

import pytest

from compress_helpers import tool_args, write_tiny_teacher
from conftest import make_tiny_teacher
from helpers import REPO, tool_env

TOOLS = ("train_teacher", "search", "compress", "distill", "export_tflite", "evaluate", "demo")
# TensorFlow's native start-up lines (issue 26), and what the converter prints on every conversion.
NOISE = re.compile(r"cuda|cuInit|oneDNN custom operations|absl::InitializeLog|fully_quantize", re.IGNORECASE)


def default_env(**extra):
    """The tools' environment as a user's shell has it: no log-level variable of ours or TensorFlow's."""
    env = {k: v for k, v in tool_env().items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "AUTORECON_TF_VERBOSE")}
    return {**env, **extra}


def run(tool, *args, env=None, timeout=600):
    command = [sys.executable, os.path.join(REPO, "tools", f"{tool}.py"), *map(str, args)]
    result = subprocess.run(
        command, cwd=REPO, env=env or default_env(), capture_output=True, text=True, timeout=timeout
    )
    return result, result.stdout + result.stderr


@pytest.mark.parametrize("tool", TOOLS)
def test_help_prints_no_tensorflow_line(tool):
    result, output = run(tool, "--help")
    assert "--" in result.stdout and "Traceback" not in output, output[-2000:]
    assert not NOISE.findall(output), [line for line in output.splitlines() if NOISE.search(line)]


def test_verbose_brings_tensorflow_logs_back():
    _, output = run("evaluate", "--help", env=default_env(AUTORECON_TF_VERBOSE="1"))
    assert NOISE.search(output), output[-2000:]  # the switch works: the same run with it is not quiet


@pytest.mark.slow
def test_smoke_compress_prints_one_progress_line_per_epoch_and_nothing_of_tensorflow(tmp_path):
    teacher = write_tiny_teacher(str(tmp_path / "teacher"), make_tiny_teacher)
    result, output = run("compress", *tool_args(teacher, str(tmp_path / "run")))
    assert result.returncode == 0, output[-3000:]
    assert not NOISE.findall(output), [line for line in output.splitlines() if NOISE.search(line)]
    epochs = [line for line in result.stdout.splitlines() if re.match(r"epoch \d+: ", line)]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1", "epoch 2"]  # TINY_OVERRIDES: 2 epochs
    assert all("images/s" in line and "student_loss=" in line for line in epochs)
    keras_lines = [line for line in output.splitlines() if re.match(r"\s*(\d+/\d+ - |Epoch \d+/\d+)", line)]
    assert keras_lines == []  # Keras' own progress is off while ours is on
    assert not re.search(r"^[IW]\d{4} ", output, re.MULTILINE)  # nor absl INFO/WARNING lines by default
