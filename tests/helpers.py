"""Helpers for tests that run the tools as a user would (subprocess, exit status, stderr)."""

import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable


def save_normalised_teacher(model, path):
    """Saves ``model`` with a ``<name>.json`` record saying that it takes normalised inputs (identity preprocessing)."""
    import json

    path = str(path)
    model.save(path)
    channels = int(model.inputs[0].shape[-1])
    record = {"preprocessing": {"mean": [0.0] * channels, "std": [1.0] * channels, "pad_to": 0}}
    with open(os.path.splitext(path)[0] + ".json", "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    return path


def save_and_reload_student(student, images, path):
    """Saves ``student``, loads it back in TFMOT's scope; asserts the same outputs on ``images`` and ranges."""
    import numpy as np
    import tensorflow_model_optimization as tfmot

    from autorecon_tf.compat import keras
    from autorecon_tf.quantization import activation_ranges

    student.save(path)
    with tfmot.quantization.keras.quantize_scope():
        loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(images, training=False), student(images, training=False), atol=1e-5)
    assert activation_ranges(loaded) == activation_ranges(student)
    return loaded


def tool_env(**extra):
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_tool(name, *args, timeout=600, **env):
    """Runs ``tools/<name>.py`` with ``args``; returns the CompletedProcess (text)."""
    return subprocess.run(
        [PYTHON, os.path.join(REPO, "tools", f"{name}.py"), *map(str, args)],
        cwd=REPO,
        env=tool_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# The budget both stage-2 tools share on the tiny teacher: 2 epochs of 2 steps of 8 images, a tiny generator.
TINY_BUDGET = {
    "batch_size": 8,
    "steps_per_epoch": 2,
    "epochs": 2,
    "eval_batch_size": 360,
    "generator.latent_dim": 8,
    "generator.channel_scale": 0.125,
}


class TinyTool:
    """A tool run on a tiny teacher at a config's ``smoke`` preset with tiny ``--config.key=value`` overrides."""

    def __init__(self, name, config, overrides):
        self.name, self.config, self.overrides = name, config, overrides

    def args(self, teacher, workdir, *extra, overrides=None):
        flags_ = [f"--config.{key}={value}" for key, value in {**self.overrides, **(overrides or {})}.items()]
        return [f"--config={self.config}:smoke", f"--teacher={teacher}", f"--workdir={workdir}", *flags_, *extra]

    def command(self, teacher, workdir, *extra, overrides=None):
        """The ``python tools/<name>.py ...`` command line (for a Popen, a kill and a resume)."""
        script = os.path.join(REPO, "tools", f"{self.name}.py")
        return [PYTHON, script, *self.args(teacher, workdir, *extra, overrides=overrides)]

    def run(self, teacher, workdir, *extra, overrides=None, timeout=900):
        """Runs the tool; returns the CompletedProcess (text)."""
        return run_tool(self.name, *self.args(teacher, workdir, *extra, overrides=overrides), timeout=timeout)


def run_fresh_python(code, *args, timeout=300):
    """Runs ``code`` in a new Python (TensorFlow not yet started) with ``args``; returns its last stdout line as JSON."""
    import json

    result = subprocess.run(
        [PYTHON, "-c", code, *map(str, args)], cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_user_error(result, *fragments):
    """Exit status 2, one `error:` line on stderr naming ``fragments``, and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in error_lines[0], (fragment, error_lines[0])
    return error_lines[0]


def kill_at_first_checkpoint(command, workdir, env=None, timeout=300, marker=os.path.join("checkpoints", "checkpoint")):
    """Starts ``command``, SIGKILLs it once ``<workdir>/<marker>`` exists (the first checkpoint); returns its exit status."""
    process = subprocess.Popen(
        command, cwd=REPO, env=env or tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    index = os.path.join(workdir, marker)
    deadline = time.time() + timeout
    while not os.path.exists(index) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    return process.wait()
