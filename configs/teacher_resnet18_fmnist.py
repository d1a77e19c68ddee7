"""ResNet-18-style teacher (width 1/2) on Fashion-MNIST padded to 32x32.

    python tools/train_teacher.py --config configs/teacher_resnet18_fmnist.py:standard \
        --workdir runs/teacher_resnet18_fmnist
"""

import ml_collections

from autorecon_tf.teachers.config import teacher_config

PRESETS = ("smoke", "standard", "full")
_EPOCHS = {"smoke": 1, "standard": 15, "full": 200}


def get_config(arg="standard"):
    arg = arg or "standard"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    options = ml_collections.ConfigDict({"width_multiplier": 0.5})
    config = teacher_config(architecture="resnet18", architecture_options=options, epochs=_EPOCHS[arg])
    if arg == "smoke":
        config.train_subset = 2000
        config.validation_size = 1000
    return config
