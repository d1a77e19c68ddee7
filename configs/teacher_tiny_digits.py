"""A tiny ResNet-8 teacher on scikit-learn's 8x8 digits, for tests and quick experiments.

python tools/train_teacher.py --config configs/teacher_tiny_digits.py:smoke --workdir /tmp/tiny_teacher
"""

import ml_collections

from autorecon_tf.teachers.config import teacher_config

PRESETS = ("smoke", "standard")
_EPOCHS = {"smoke": 2, "standard": 30}


def get_config(arg="smoke"):
    arg = arg or "smoke"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    options = ml_collections.ConfigDict({"width_multiplier": 0.5, "blocks_per_stage": 1})
    return teacher_config(
        dataset="digits",
        pad_to=0,
        validation_size=200,
        architecture="resnet20",
        architecture_options=options,
        batch_size=32,
        epochs=_EPOCHS[arg],
        learning_rate=0.05,
        crop_padding=1,
        flip=False,
    )
