"""Shared set-up of the distillation tool tests: the tiny digits teacher and a budget of seconds."""

import os

from helpers import REPO, TINY_BUDGET, TinyTool

CONFIG = os.path.join(REPO, "configs", "distill_fmnist.py")

# 2 epochs of 2 iterations (2 student steps + 1 generator step of 8 images) with a tiny student and generators.
TINY_OVERRIDES = {
    **TINY_BUDGET,
    "student_steps": 2,
    "student.width": 0.125,
    "generator.base_channels": 4,
    "export.calibration_images": 16,
}


DISTILL = TinyTool("distill", CONFIG, TINY_OVERRIDES)
tool_args, tool_command, run_distill = DISTILL.args, DISTILL.command, DISTILL.run
