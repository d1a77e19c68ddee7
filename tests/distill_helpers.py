"""Shared set-up of the distillation tool tests: the tiny digits teacher and a budget of seconds."""

import os
import sys

from helpers import REPO, run_tool

CONFIG = os.path.join(REPO, "configs", "distill_fmnist.py")

# 2 epochs of 2 iterations (2 student steps + 1 generator step of 8 images) with a tiny student and generators.
TINY_OVERRIDES = {
    "batch_size": 8,
    "steps_per_epoch": 2,
    "epochs": 2,
    "student_steps": 2,
    "eval_batch_size": 360,
    "student.width": 0.125,
    "generator.latent_dim": 8,
    "generator.base_channels": 4,
    "generator.channel_scale": 0.125,
    "export.calibration_images": 16,
}


def tool_args(teacher, workdir, *extra, overrides=None):
    """The arguments of ``tools/distill.py`` for the tiny teacher."""
    flags_ = [f"--config.{key}={value}" for key, value in {**TINY_OVERRIDES, **(overrides or {})}.items()]
    return [f"--config={CONFIG}:smoke", f"--teacher={teacher}", f"--workdir={workdir}", *flags_, *extra]


def tool_command(teacher, workdir, *extra, overrides=None):
    return [
        sys.executable,
        os.path.join(REPO, "tools", "distill.py"),
        *tool_args(teacher, workdir, *extra, overrides=overrides),
    ]


def run_distill(teacher, workdir, *extra, overrides=None, timeout=900):
    """Runs ``tools/distill.py`` on the tiny teacher; returns the CompletedProcess (text)."""
    return run_tool("distill", *tool_args(teacher, workdir, *extra, overrides=overrides), timeout=timeout)
