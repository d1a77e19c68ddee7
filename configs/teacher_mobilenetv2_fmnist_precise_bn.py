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

from autorecon_tf.teachers.config import teacher_config

PRESETS = ("smoke", "demo", "standard", "full")
_BATCHES = {"smoke": 5, "demo": 20, "standard": 100, "full": 200}
FIRST_STAGE = "runs/teacher_mobilenetv2_fmnist/teacher.keras"


def get_config(arg="standard"):
    arg = arg or "standard"
    if arg not in PRESETS:
        raise ValueError(f"unknown preset {arg!r}; choose one of {PRESETS}")
    # The architecture of the first stage (configs/teacher_mobilenetv2_fmnist.py), whose weights are loaded.
    first = {"alpha": 1.0, "input_upsample": 2, "bn_momentum": 0.9, "weight_decay": 1e-4}
    config = teacher_config(architecture="mobilenet_v2", epochs=0, init_from=FIRST_STAGE)
    config.architecture_options.update(first)
    config.learning_rate = 0.05  # unused (no epochs); the first stage's value, for the record
    config.bn_recalibration_batches = _BATCHES[arg]
    return config
