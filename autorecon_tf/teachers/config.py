"""Defaults for teacher-training configs; ``configs/teacher_*.py`` override them per preset."""

import ml_collections


def teacher_config(**overrides):
    """A teacher-training ConfigDict: defaults, then ``overrides`` (unknown keys are errors)."""
    config = ml_collections.ConfigDict()
    config.dataset = "fashion_mnist"
    config.data_dir = ""
    config.pad_to = 0
    config.validation_size = 5000
    config.train_subset = 0  # 0 = all training images
    config.architecture = "resnet20"
    config.architecture_options = ml_collections.ConfigDict()
    config.batch_size = 128
    config.epochs = 30
    config.learning_rate = 0.1
    config.final_lr_fraction = 0.0
    config.momentum = 0.9
    config.augment = True
    config.crop_padding = 4
    config.flip = True
    config.seed = 0
    # True: same command, same numbers, on one thread (~2.4x a step on 2 cores; autorecon_tf/determinism.py).
    config.deterministic = False  # the benchmark harness sets True
    # "" or a teacher.keras whose weights start this run (layer by layer, by name; every
    # weight shape must match): progressive resizing, e.g. MobileNetV2 trained with
    # input_upsample 2 continuing at 3. Its teacher.json must give the same normalisation.
    config.init_from = ""
    # After training: set every BatchNorm layer's moving statistics to their average over
    # this many batches of 256 un-augmented training images (PreciseBN; 0 = keep the
    # training-time moving averages). See autorecon_tf/teachers/batchnorm_recalibration.py.
    config.bn_recalibration_batches = 0
    for key, value in overrides.items():
        if key not in config:
            raise KeyError(f"unknown teacher config key {key!r}")
        config[key] = value
    return config
