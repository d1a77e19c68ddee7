"""ResNet-20 teacher on Fashion-MNIST (28x28x1), the default teacher.

    python tools/train_teacher.py --config configs/teacher_resnet20_fmnist.py:standard \
        --workdir runs/teacher_resnet20_fmnist

Presets: smoke (a 2,000-image subset, 1 epoch, ~30 s), demo (2 epochs on 30,000 images, ~8 min),
standard (30 epochs: 12 reached only 91.5%, see BENCHMARKS.md), full (200 epochs).
"""

from autorecon_tf.teachers.config import teacher_config

PRESETS = ("smoke", "demo", "standard", "full")
_EPOCHS = {"smoke": 1, "demo": 2, "standard": 30, "full": 200}


def get_config(arg="standard"):
    arg = arg or "standard"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    config = teacher_config(architecture="resnet20", epochs=_EPOCHS[arg])
    if arg == "smoke":
        config.train_subset = 2000
        config.validation_size = 1000
    if arg == "demo":
        config.train_subset = 30000
    return config
