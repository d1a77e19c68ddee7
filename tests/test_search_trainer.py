"""The search trainer: which variables each step moves, the frozen teacher, L_r and BNS, the noise stream, fit."""

import numpy as np
import pytest

from autorecon_tf.compat import keras, tf
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.reconstruction import reconstruction_loss
from autorecon_tf.supernet import GeneratorSupernet, TemperatureSchedule
from autorecon_tf.trainers.search_trainer import SearchTrainer, search_noise_dataset

LATENT, CLASSES, BATCH = 8, 4, 6


def _trainer(teacher, **options):
    supernet = GeneratorSupernet((8, 8, 1), CLASSES, latent_dim=LATENT, channels=(4, 4, 4))
    trainer = SearchTrainer(supernet, teacher, **options)
    trainer.compile(
        weight_optimizer=keras.optimizers.legacy.Adam(1e-2, beta_1=0.5),
        arch_optimizer=keras.optimizers.legacy.Adam(1e-2, beta_1=0.5),
        run_eagerly=True,  # the behaviour under test does not depend on tracing; eager keeps it to seconds
    )
    return trainer


def _values(variables):
    return [variable.numpy().copy() for variable in variables]


def _changed(before, variables):
    return [not np.array_equal(old, variable.numpy()) for old, variable in zip(before, variables)]


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.standard_normal((BATCH, LATENT)), tf.float32), tf.constant(
        rng.integers(0, CLASSES, BATCH), tf.int32
    )


def test_arch_step_changes_no_generator_weight_and_weight_step_no_alpha(tiny_teacher):
    trainer = _trainer(tiny_teacher)
    supernet = trainer.supernet
    weights, alphas = _values(supernet.weight_variables), _values(supernet.arch_variables)
    trainer.arch_step(*_batch(0), 1.0)
    assert not any(_changed(weights, supernet.weight_variables))
    assert all(_changed(alphas, supernet.arch_variables))

    weights, alphas = _values(supernet.weight_variables), _values(supernet.arch_variables)
    trainer.weight_step(*_batch(1), 1.0)
    assert not any(_changed(alphas, supernet.arch_variables))
    assert sum(_changed(weights, supernet.weight_variables)) > 0.9 * len(weights)


@pytest.mark.slow
def test_fit_never_changes_the_teacher_and_reports_the_metrics(tiny_teacher):
    teacher_weights = _values(tiny_teacher.weights)  # moving statistics included
    trainer = _trainer(
        tiny_teacher, weight_steps=2, arch_steps=1, temperature_schedule=TemperatureSchedule(4.0, 1.0, decay_steps=2)
    )
    alphas = _values(trainer.supernet.arch_variables)
    history = trainer.fit(search_noise_dataset(BATCH, LATENT, CLASSES, 2, 1), epochs=1, steps_per_epoch=3, verbose=0)
    assert not any(_changed(teacher_weights, tiny_teacher.weights))
    assert not tiny_teacher.trainable_weights
    assert all(_changed(alphas, trainer.supernet.arch_variables))
    logs = {name: values[-1] for name, values in history.history.items()}
    assert set(logs) == {"ce", "bns", "reconstruction", "arch_reconstruction", "alpha_entropy", "temperature"}
    assert logs["reconstruction"] == pytest.approx(logs["ce"] + 0.1 * logs["bns"], rel=1e-4)
    assert logs["temperature"] == pytest.approx((4.0 + 2.0 + 1.0) / 3, rel=1e-4)  # steps 0, 1, 2 of the schedule
    assert int(trainer.weight_optimizer.iterations) == 6 and int(trainer.arch_optimizer.iterations) == 3
    assert 0 < logs["alpha_entropy"] <= np.log(7)


@pytest.mark.slow
def test_weights_only_warm_up_leaves_alpha_untouched(tiny_teacher):
    trainer = _trainer(tiny_teacher)
    trainer.set_train_architecture(False)
    alphas = _values(trainer.supernet.arch_variables)
    history = trainer.fit(search_noise_dataset(BATCH, LATENT, CLASSES), epochs=1, steps_per_epoch=2, verbose=0)
    assert not any(_changed(alphas, trainer.supernet.arch_variables))
    assert "arch_reconstruction" not in history.history and int(trainer.arch_optimizer.iterations) == 0


def _calibrate(teacher, images):
    """Sets every BN layer's moving statistics to those of its input on ``images`` (in graph order)."""
    stats = BatchNormStatistics(teacher)
    for index, layer in enumerate(stats.layers):
        with stats.record() as moments:
            teacher(images, training=False)
        layer.moving_mean.assign(moments[index][0])
        layer.moving_variance.assign(moments[index][1])
    return stats


def test_bns_loss_is_zero_for_matching_statistics_and_grows_with_mismatch(tiny_teacher):
    images = tf.random.stateless_normal([16, 8, 8, 1], seed=[1, 2])
    stats = _calibrate(tiny_teacher, images)
    labels = tf.zeros([16], tf.int32)
    _, _, matched, _ = reconstruction_loss(stats, images, labels, 0.1)
    assert float(matched) < 1e-6
    losses = [
        float(reconstruction_loss(stats, images * (1 + shift) + shift, labels, 0.1)[2]) for shift in (0.1, 0.5, 1.0)
    ]
    assert 0 < losses[0] < losses[1] < losses[2]


def test_reconstruction_loss_is_ce_plus_lambda_bns(tiny_teacher):
    stats = BatchNormStatistics(tiny_teacher)
    images = tf.random.stateless_normal([8, 8, 8, 1], seed=[3, 4])
    labels = tf.constant([0, 1, 2, 3, 0, 1, 2, 3])
    total, ce, bns, logits = reconstruction_loss(stats, images, labels, bns_weight=0.5)
    expected_ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        labels, tiny_teacher(images, training=False)
    )
    assert float(ce) == pytest.approx(float(expected_ce), rel=1e-5)
    assert float(total) == pytest.approx(float(ce) + 0.5 * float(bns), rel=1e-5)
    assert tuple(logits.shape) == (8, 4)


def test_noise_dataset_is_batch_first_independent_and_resumable():
    dataset = search_noise_dataset(5, LATENT, CLASSES, weight_steps=3, arch_steps=2, seed=7)
    first, second = list(dataset.take(2).as_numpy_iterator())
    assert first["train_z"].shape == (5, 3, LATENT) and first["val_z"].shape == (5, 2, LATENT)
    assert first["train_y"].shape == (5, 3) and first["train_y"].dtype == np.int32
    assert 0 <= first["train_y"].min() and first["train_y"].max() < CLASSES
    assert not np.allclose(first["train_z"][:, 0], first["val_z"][:, 0])
    resumed = next(search_noise_dataset(5, LATENT, CLASSES, 3, 2, seed=7, start_step=1).as_numpy_iterator())
    np.testing.assert_array_equal(resumed["train_z"], second["train_z"])
    np.testing.assert_array_equal(resumed["val_y"], second["val_y"])
