import numpy as np
import pytest

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.losses.bn_statistics import BatchNormStatistics, batch_moments


def test_moments_are_per_channel_and_biased():
    x = tf.constant(np.arange(8, dtype="float32").reshape(2, 2, 1, 2))
    mean, variance = batch_moments(x)
    np.testing.assert_allclose(mean, [3.0, 4.0])
    np.testing.assert_allclose(variance, [5.0, 5.0])  # biased: divides by 4, not 3


def test_loss_is_zero_for_matching_statistics_and_grows_with_mismatch():
    image = keras.Input((4, 4, 2))
    model = keras.Model(image, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.BatchNormalization()(image))))
    stats = BatchNormStatistics(model)
    x = tf.random.normal((64, 4, 4, 2))
    mean, variance = batch_moments(x)
    stats.layers[0].moving_mean.assign(mean)
    stats.layers[0].moving_variance.assign(variance)
    losses = [float(stats(x * scale + shift)[1]) for scale, shift in ((1, 0), (1.5, 0.5), (3, 2))]
    assert losses[0] == pytest.approx(0.0, abs=1e-10)
    assert losses[0] < losses[1] < losses[2]


def test_two_instances_on_one_teacher_both_record(tiny_teacher):
    first, second = BatchNormStatistics(tiny_teacher), BatchNormStatistics(tiny_teacher)
    x = tf.random.normal((8, 8, 8, 1))
    _, loss_first = first(x)
    _, loss_second = second(x)
    assert float(loss_first) == pytest.approx(float(loss_second)) and float(loss_first) > 0
    with first.record() as moments:
        tiny_teacher(x, training=False)
    assert len(moments) == len(first.layers)


def test_tapped_teacher_works_in_tf_function_and_still_saves(tiny_teacher, tmp_path):
    stats = BatchNormStatistics(tiny_teacher)
    x = tf.random.normal((8, 8, 8, 1))
    graph_loss = tf.function(lambda images: stats(images)[1])(x)
    assert float(graph_loss) == pytest.approx(float(stats(x)[1]), rel=1e-5)
    tiny_teacher.save(str(tmp_path / "t.keras"))
    reloaded = keras.models.load_model(str(tmp_path / "t.keras"))
    np.testing.assert_allclose(reloaded(x), tiny_teacher(x), atol=1e-5)


def test_model_without_batchnorm_is_rejected():
    image = keras.Input((4, 4, 1))
    model = keras.Model(image, keras.layers.Dense(2)(keras.layers.Flatten()(image)))
    with pytest.raises(UserError, match="has no BatchNormalization layer"):
        BatchNormStatistics(model)
