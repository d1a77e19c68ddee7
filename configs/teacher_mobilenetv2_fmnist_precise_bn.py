"""MobileNetV2 on Fashion-MNIST, second stage: the trained teacher's BatchNorm statistics re-estimated (PreciseBN).

    python tools/train_teacher.py --config configs/teacher_mobilenetv2_fmnist.py:standard \
        --workdir runs/teacher_mobilenetv2_fmnist
    python tools/train_teacher.py --config configs/teacher_mobilenetv2_fmnist_precise_bn.py:standard \
        --workdir runs/teacher_mobilenetv2_fmnist_precise_bn

The first command trains for 30 epochs (91.42% test top-1). This stage starts from its
weights (``init_from``), trains no further (``epochs=0``) and replaces every BatchNorm
layer's moving mean and variance, an average over about the last 10 augmented batches,
by their average over 100 batches of 256 un-augmented training images
(autorecon_tf/teachers/batchnorm_recalibration.py); a few minutes on 2 cores. The same
``bn_recalibration_batches`` in the first config would do it at the end of that run.
Presets: smoke (5 batches), demo, standard (the BENCHMARKS.md teacher), full.
"""

import os

from autorecon_tf.cli import load_config
from autorecon_tf.teachers.config import teacher_config

PRESETS = ("smoke", "demo", "standard", "full")
_BATCHES = {"smoke": 5, "demo": 20, "standard": 100, "full": 200}
FIRST_STAGE = "runs/teacher_mobilenetv2_fmnist/teacher.keras"


def get_config(arg="standard"):
    arg = arg or "standard"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    first = _first_stage_config()  # its architecture, whose weights are loaded
    config = teacher_config(architecture=first.architecture, epochs=0, init_from=FIRST_STAGE)
    config.architecture_options.update(first.architecture_options.to_dict())
    config.learning_rate = first.learning_rate  # unused (no epochs), for the record
    config.bn_recalibration_batches = _BATCHES[arg]
    return config


def _first_stage_config():
    """configs/teacher_mobilenetv2_fmnist.py:standard, loaded from this file's directory."""
    return load_config(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "teacher_mobilenetv2_fmnist.py"), "standard"
    )
