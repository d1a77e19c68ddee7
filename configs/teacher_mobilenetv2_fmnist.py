"""MobileNetV2 (keras.applications, untrained, alpha 0.5) teacher on Fashion-MNIST.

    python tools/train_teacher.py --config configs/teacher_mobilenetv2_fmnist.py:standard \
        --workdir runs/teacher_mobilenetv2_fmnist

The 28x28 images are up-sampled x2 inside the model: keras.applications needs
at least 32x32, and MobileNetV2 down-samples by 32. Width alpha 0.5: a train step at
batch 128 takes 0.38 s on the 2-core machine against 0.79 s at alpha 1.0, so 30 epochs fit
in about 1.5 h (override with ``--config.architecture_options.alpha=1.0``). Presets: smoke, demo, standard (the BENCHMARKS.md teacher), full.
"""

import ml_collections

from autorecon_tf.teachers.config import teacher_config

PRESETS = ("smoke", "demo", "standard", "full")
_EPOCHS = {"smoke": 1, "demo": 3, "standard": 30, "full": 200}


def get_config(arg="standard"):
    arg = arg or "standard"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    options = ml_collections.ConfigDict({"alpha": 0.5, "input_upsample": 2})
    config = teacher_config(architecture="mobilenet_v2", architecture_options=options, epochs=_EPOCHS[arg])
    config.learning_rate = 0.05
    if arg == "smoke":
        config.train_subset = 2000
        config.validation_size = 1000
    return config
