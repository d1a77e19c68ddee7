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


@pytest.fixture(scope="session")
def tiny_teacher_file(tmp_path_factory):
    """The tiny teacher saved as ``teacher.keras`` with a record saying that it takes normalised inputs."""
    from helpers import save_normalised_teacher

    return save_normalised_teacher(make_tiny_teacher(), tmp_path_factory.mktemp("teacher") / "teacher.keras")


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


def hard_sigmoid(x):
    """keras.applications' hard-sigmoid (MobileNetV3): two TFOpLambda layers around a ReLU(6) layer."""
    return keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def make_mixed_teacher(input_shape=(16, 16, 3), num_classes=10, seed=0):
    """Every layer kind the scheme's table names, as keras.applications uses them, on a 16x16 image."""
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    normalize = layers.Normalization(axis=-1, name="normalize")
    normalize.adapt(np.random.default_rng(seed).uniform(0, 1, (4, *input_shape)).astype("float32"))
    x = layers.ZeroPadding2D(1, name="pad")(normalize(x))
    x = layers.BatchNormalization(name="stem_bn")(layers.Conv2D(8, 3, strides=2, name="stem")(x))
    x = layers.Multiply(name="stem_hswish")([x, hard_sigmoid(x)])
    y = layers.BatchNormalization(name="dw_bn")(layers.DepthwiseConv2D(3, padding="same", name="dw")(x))
    y = layers.Activation("swish", name="dw_swish")(y)
    se = layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(y)
    se = layers.Conv2D(4, 1, activation="relu", name="se_reduce")(se)
    se = layers.Conv2D(8, 1, activation="sigmoid", name="se_expand")(se)
    y = layers.Multiply(name="se_scale")([y, se])
    z = layers.SeparableConv2D(8, 3, padding="same", activation="swish", name="sep")(x)
    x = layers.Concatenate(name="concat")([y, z])
    x = layers.Conv2D(16, 1, activation="relu6", name="mix")(x)
    x = layers.Activation("hard_sigmoid", name="gate")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(layers.MaxPooling2D(name="max_pool")(x))
    x = layers.Flatten(name="flatten")(layers.Reshape((4, 4), name="reshape")(x))
    x = layers.Dropout(0.2, name="dropout")(layers.Dense(8, activation="gelu", name="hidden")(x))
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name="mixed_teacher")


@pytest.fixture
def mixed_teacher():
    return make_mixed_teacher()
