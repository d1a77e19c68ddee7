"""Shared fixtures: a fixed seed for every test and a tiny BatchNorm teacher."""

import os
import random

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autorecon_tf.compat import keras, tf  # noqa: E402
from autorecon_tf.teachers.resnet20 import build_resnet20  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def seed_everything():
    random.seed(0)
    np.random.seed(0)
    tf.random.set_seed(0)
    keras.backend.clear_session()
    yield


def make_tiny_teacher(input_shape=(8, 8, 1), num_classes=4, seed=0):
    """ResNet-8 at width 1/4 with non-trivial BN statistics (random moving mean/variance)."""
    keras.utils.set_random_seed(seed)
    model = build_resnet20(input_shape, num_classes, width_multiplier=0.25, blocks_per_stage=1, name="tiny_teacher")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))
    return model


@pytest.fixture
def tiny_teacher():
    return make_tiny_teacher()


def calibrate_on_noise(student, input_shape=(8, 8, 1), count=128, batch_size=32):
    """Sets a student's activation ranges on N(0, 1) images (seed 1), then freezes them; returns it."""
    from autorecon_tf.data.calibration import noise_images
    from autorecon_tf.quantization import set_range_update

    images = noise_images(input_shape, count, seed=1)
    for start in range(0, count, batch_size):
        student(images[start : start + batch_size], training=False)
    set_range_update(student, False)
    return student
