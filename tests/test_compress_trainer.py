"""CompressTrainer: who trains when (warm-up, student step), range freezing, the data source, optimisers."""

import numpy as np
import pytest

from autorecon_tf.compat import keras, tf
from autorecon_tf.generators.gdfq import build_gdfq_generator
from autorecon_tf.quantization import activation_ranges, build_student
from autorecon_tf.trainers import optimizers
from autorecon_tf.trainers.compress_trainer import CompressTrainer, latent_dataset

LATENT = 8


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return max(float(np.abs(b - v.numpy()).max()) for b, v in zip(before, variables))


def _ranges(student):
    return np.array([pair for pair in activation_ranges(student).values()])


@pytest.fixture
def trainer(tiny_teacher):
    generator = build_gdfq_generator((8, 8, 1), 4, latent_dim=LATENT, channel_scale=0.125)
    student = build_student(tiny_teacher, 4, 4)
    trainer = CompressTrainer(generator, tiny_teacher, student, bns_weight=0.1)
    trainer.compile(
        generator_optimizer=optimizers.generator_optimizer(1e-2), student_optimizer=optimizers.student_optimizer(1e-2)
    )
    return trainer


def _fit(trainer, steps=2, seed=0):
    return trainer.fit(latent_dataset(8, LATENT, 4, seed), epochs=1, steps_per_epoch=steps, verbose=0)


def test_warmup_trains_only_the_generator_and_updates_the_ranges(trainer):
    teacher_before = _snapshot(trainer.teacher.weights)
    student_before = _snapshot(trainer.student.trainable_variables)
    generator_before = _snapshot(trainer.generator.trainable_variables)
    ranges_before = _ranges(trainer.student)
    trainer.warmup = True
    history = _fit(trainer)
    assert _changed(student_before, trainer.student.trainable_variables) == 0.0
    assert _changed(teacher_before, trainer.teacher.weights) == 0.0
    assert _changed(generator_before, trainer.generator.trainable_variables) > 0.0
    assert np.abs(_ranges(trainer.student) - ranges_before).max() > 0.0
    assert set(history.history) == {
        "generator_loss",
        "generator_ce",
        "bns",
        "student_loss",
        "kd",
        "student_ce",
        "agreement",
    }


def test_student_step_changes_only_the_student(trainer):
    trainer.warmup = False
    z, labels = next(iter(latent_dataset(8, LATENT, 4)))
    images = trainer.generator([z, labels], training=True)
    teacher_logits = trainer.teacher(images, training=False)
    teacher_before = _snapshot(trainer.teacher.weights)
    generator_before = _snapshot(trainer.generator.weights)
    student_before = _snapshot(trainer.student.trainable_variables)
    trainer.student_step(images, teacher_logits, labels)
    assert _changed(teacher_before, trainer.teacher.weights) == 0.0
    assert _changed(generator_before, trainer.generator.weights) == 0.0
    assert _changed(student_before, trainer.student.trainable_variables) > 0.0


def test_after_warmup_ranges_freeze_and_the_student_trains(trainer):
    trainer.warmup = True
    trainer.student(tf.random.normal([8, 8, 8, 1]), training=False)  # sets the ranges
    trainer.warmup = False
    ranges = _ranges(trainer.student)
    teacher_before = _snapshot(trainer.teacher.weights)
    student_before = _snapshot(trainer.student.trainable_variables)
    bn_stats = [layer for layer in trainer.student.layers if isinstance(layer, keras.layers.BatchNormalization)]
    moving_before = _snapshot([layer.moving_mean for layer in bn_stats])
    _fit(trainer, steps=2, seed=1)
    np.testing.assert_array_equal(_ranges(trainer.student), ranges)
    assert _changed(student_before, trainer.student.trainable_variables) > 0.0
    assert _changed(moving_before, [layer.moving_mean for layer in bn_stats]) == 0.0  # BN in inference mode
    assert _changed(teacher_before, trainer.teacher.weights) == 0.0


def test_latent_dataset_is_reproducible_and_in_range():
    first = next(iter(latent_dataset(16, 5, 3, seed=7)))
    again = next(iter(latent_dataset(16, 5, 3, seed=7)))
    other = next(iter(latent_dataset(16, 5, 3, seed=8)))
    z, labels = first
    assert z.shape == (16, 5) and z.dtype == tf.float32 and labels.dtype == tf.int32
    assert labels.numpy().min() >= 0 and labels.numpy().max() < 3
    np.testing.assert_array_equal(z, again[0])
    assert np.abs(z.numpy() - other[0].numpy()).max() > 0


def test_step_decay_multiplies_by_a_tenth_at_quarters():
    schedule = optimizers.step_decay(1e-4, 400)
    values = [float(schedule(step)) for step in (0, 99, 101, 201, 301, 399)]
    np.testing.assert_allclose(values, [1e-4, 1e-4, 1e-5, 1e-6, 1e-7, 1e-7], rtol=1e-6)


def test_gdfq_default_optimisers():
    student = optimizers.student_optimizer()
    assert student.nesterov and student.momentum == pytest.approx(0.9)
    assert student.weight_decay == pytest.approx(1e-4)
    generator = optimizers.generator_optimizer()
    assert float(generator.beta_1) == pytest.approx(0.5) and float(generator.beta_2) == pytest.approx(0.999)
    assert float(generator.learning_rate) == pytest.approx(1e-3)
