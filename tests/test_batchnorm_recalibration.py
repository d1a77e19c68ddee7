"""PreciseBN: the moving statistics become the plain average of the batches' statistics; nothing else changes."""

import numpy as np
import pytest

from autorecon_tf.compat import keras
from autorecon_tf.data.pipeline import Preprocessing
from autorecon_tf.errors import UserError
from autorecon_tf.teachers.batchnorm_recalibration import recalibrate_batchnorm


def _model():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn")(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def test_moving_statistics_are_the_average_over_the_batches_and_the_weights_stay():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 4, 4, 2), dtype=np.uint8)
    preprocessing = Preprocessing(mean=(0.5, 0.2), std=(0.25, 0.5), pad_to=0)
    model = _model()
    model.trainable = False  # a loaded teacher is frozen; the recalibration must still run in training mode
    layer = model.get_layer("bn")
    weights = [w.copy() for w in model.get_weights() if w.shape != layer.moving_mean.shape] + [
        layer.gamma.numpy().copy(),
        layer.beta.numpy().copy(),
    ]

    seen = recalibrate_batchnorm(model, images, preprocessing, batches=3, batch_size=8, seed=5)

    assert seen == 24
    order = np.random.default_rng(5).permutation(24)
    batches = [preprocessing(images[order[k * 8 : (k + 1) * 8]]).numpy() for k in range(3)]
    means = [batch.mean(axis=(0, 1, 2)) for batch in batches]
    variances = [batch.var(axis=(0, 1, 2), ddof=1) for batch in batches]  # Keras keeps the unbiased variance
    np.testing.assert_allclose(layer.moving_mean.numpy(), np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), np.mean(variances, axis=0), rtol=1e-4, atol=1e-6)
    after = [w for w in model.get_weights() if w.shape != layer.moving_mean.shape] + [
        layer.gamma.numpy(),
        layer.beta.numpy(),
    ]
    for old, new in zip(weights, after):
        np.testing.assert_array_equal(old, new)
    assert layer.momentum == 0.9 and not layer.trainable


def test_batches_wrap_around_and_bad_counts_are_refused():
    images = np.zeros((5, 4, 4, 2), np.uint8)
    preprocessing = Preprocessing.identity(2)
    assert recalibrate_batchnorm(_model(), images, preprocessing, batches=3, batch_size=4) == 12
    with pytest.raises(UserError, match="at least 1 batch"):
        recalibrate_batchnorm(_model(), images, preprocessing, batches=0)
    no_bn = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(UserError, match="no BatchNormalization layer"):
        recalibrate_batchnorm(no_bn, images, preprocessing, batches=1)


def test_a_record_written_before_a_config_key_existed_is_still_reused(tmp_path):
    import json

    from autorecon_tf.pipelines.teacher import finished_record
    from autorecon_tf.teachers.config import teacher_config
    from autorecon_tf.utils.records import config_dict

    config = teacher_config(epochs=3)
    old = config_dict(config)
    del old["init_from"], old["bn_recalibration_batches"]
    (tmp_path / "teacher.json").write_text(json.dumps({"config": old}))
    (tmp_path / "teacher.keras").write_text("")
    assert finished_record(config, str(tmp_path)) is not None
    config.bn_recalibration_batches = 10  # a real change still counts
    assert finished_record(config, str(tmp_path)) is None
