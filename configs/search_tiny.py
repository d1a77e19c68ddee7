"""A tiny generator search for tests: 8x8 teachers, a narrow supernet, eager steps (no graph tracing).

Launch (a teacher file is required, e.g. the tests' tiny ResNet-8 saved as .keras):

    python tools/search.py --config configs/search_tiny.py --teacher /tmp/teacher.keras --workdir /tmp/search_tiny
    python tools/search.py --config configs/search_tiny.py:graph ...   # same, traced with tf.function
    python tools/search.py --config configs/search_tiny.py --method=random ...   # keras-tuner, 2 trials

Presets: default (eager; a few seconds per step), graph (the same traced by model.fit, as real runs are).
"""

import os

import ml_collections

from autorecon_tf.cli import load_config

BASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "search_resnet20_fmnist.py")


PRESETS = ("eager", "graph")


def get_config(arg=None):
    preset = arg or "eager"
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {PRESETS}")
    config = load_config(BASE, "smoke")
    config.preset = preset
    config.teacher = ml_collections.config_dict.placeholder(str)
    config.run_eagerly = preset == "eager"
    config.supernet.latent_dim = 8
    config.supernet.channels = (4, 4, 4)
    config.search.batch_size = 4
    config.search.epochs = 3
    config.search.steps_per_epoch = 1
    config.search.warmup_epochs = 1
    config.tuner.steps = 1  # a trial costs (1 + 1) * 4 images: 2 trials in the Gumbel search's 20
    config.tuner.eval_batches = 1
    config.tuner.bayesian_initial_points = 1
    return config
