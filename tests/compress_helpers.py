"""Shared set-up of the stage-2 tests: a tiny digits teacher on disk and tiny config overrides."""

import json
import os

from autorecon_tf.cli import load_config
from autorecon_tf.data.datasets import load_dataset
from autorecon_tf.data.pipeline import fit_preprocessing

from helpers import TINY_BUDGET, TinyTool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "compress_resnet20_fmnist.py")

# A budget of seconds for the tiny teacher: 2 warm-up + 2 joint steps of 8 images.
TINY_OVERRIDES = {
    **TINY_BUDGET,
    "warmup_epochs": 1,
    "zeroq.num_images": 16,
    "zeroq.steps": 2,
}


def write_tiny_teacher(directory, make_tiny_teacher):
    """Saves the conftest tiny teacher (8x8x1, 10 classes) plus a digits teacher.json; returns the path."""
    data = load_dataset("digits")
    model = make_tiny_teacher(input_shape=(8, 8, 1), num_classes=10)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "teacher.keras")
    model.save(path)
    record = {
        "dataset": "digits",
        "preprocessing": fit_preprocessing(data.x_train).to_dict(),
        "input_shape": [8, 8, 1],
        "num_classes": 10,
    }
    with open(os.path.join(directory, "teacher.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    return path


def tiny_config(preset="smoke", **overrides):
    """The compress config at ``preset`` with the tiny overrides applied."""
    return load_config(CONFIG, preset, {**TINY_OVERRIDES, **overrides})


COMPRESS = TinyTool("compress", CONFIG, TINY_OVERRIDES)
tool_args, tool_command, run_compress = COMPRESS.args, COMPRESS.command, COMPRESS.run
