"""Shared set-up of the distillation tool tests: the tiny digits teacher and a budget of seconds."""

import os

from helpers import REPO, TinyTool

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


DISTILL = TinyTool("distill", CONFIG, TINY_OVERRIDES)
tool_args, tool_command, run_distill = DISTILL.args, DISTILL.command, DISTILL.run
