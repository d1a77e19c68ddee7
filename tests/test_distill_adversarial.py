"""DistillAdversarialTrainer: who changes in which step, the objectives' losses, and DAFL's terms by hand."""

import math

import numpy as np
import pytest

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.generators.dfad import DFADGenerator
from autorecon_tf.generators.gdfq import build_gdfq_generator
from autorecon_tf.losses.adversarial import (
    activation_loss,
    dafl_loss,
    information_entropy_loss,
    logit_l1,
    one_hot_loss,
)
from autorecon_tf.teachers.resnet20 import build_resnet20
from autorecon_tf.trainers.compress_trainer import latent_dataset
from autorecon_tf.trainers.distill_adversarial_trainer import DistillAdversarialTrainer
from autorecon_tf.trainers.objectives import OBJECTIVES

from conftest import make_tiny_teacher

SHAPE, CLASSES, LATENT, BATCH = (8, 8, 1), 4, 8, 8


def _trainer(objective="adversarial", student_steps=2, generator="gdfq"):
    teacher = make_tiny_teacher(SHAPE, CLASSES)
    keras.utils.set_random_seed(1)
    student = build_resnet20(SHAPE, CLASSES, width_multiplier=0.125, blocks_per_stage=1, name="student")
    if generator == "gdfq":
        generator = build_gdfq_generator(SHAPE, CLASSES, LATENT, channel_scale=0.125)
    else:
        generator = DFADGenerator(SHAPE, latent_dim=LATENT, base_channels=4, num_classes=CLASSES)
    trainer = DistillAdversarialTrainer(generator, teacher, student, objective, student_steps=student_steps)
    trainer.compile(generator_optimizer=keras.optimizers.Adam(1e-2), student_optimizer=keras.optimizers.SGD(0.1))
    return trainer


def _batch(seed=0):
    z = tf.random.stateless_normal([BATCH, LATENT], seed=[seed, 1])
    labels = tf.random.stateless_uniform([BATCH], seed=[seed, 2], maxval=CLASSES, dtype=tf.int32)
    return z, labels


def _values(variables):
    return {v.name: v.numpy().copy() for v in variables}


def _changed(before, variables):
    return {v.name for v in variables if not np.array_equal(before[v.name], v.numpy())}


def _is_bn_moving_statistic(name):
    return "moving_mean" in name or "moving_variance" in name


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_a_generator_step_changes_no_student_weight(objective):
    trainer = _trainer(objective)
    student = trainer.student
    before = _values(student.variables)
    generator_before = _values(trainer.generator.trainable_variables)
    trainer.generator_step(*_batch())
    changed = _changed(before, student.variables)
    assert all(_is_bn_moving_statistic(name) for name in changed), changed  # training-mode forward only
    assert int(trainer.student_optimizer.iterations.numpy()) == 0
    assert _changed(generator_before, trainer.generator.trainable_variables)  # the generator did learn


@pytest.mark.parametrize("generator", ["gdfq", "dfad"])
def test_a_student_step_changes_no_generator_weight(generator):
    trainer = _trainer(generator=generator)
    before = _values(trainer.generator.variables)
    student_before = _values(trainer.student.trainable_variables)
    trainer.student_step(trainer.generate(*_batch()))
    changed = _changed(before, trainer.generator.variables)
    assert all(_is_bn_moving_statistic(name) for name in changed), changed
    assert int(trainer.generator_optimizer.iterations.numpy()) == 0
    assert _changed(student_before, trainer.student.trainable_variables)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_fit_never_changes_the_teacher_and_logs_the_objectives_parts(objective):
    trainer = _trainer(objective)
    before = _values(trainer.teacher.variables)
    steps = trainer.student_steps + 1
    history = trainer.fit(latent_dataset(steps * BATCH, LATENT, CLASSES), epochs=1, steps_per_epoch=2, verbose=0)
    assert _changed(before, trainer.teacher.variables) == set()
    assert {"generator_loss", "student_loss", "agreement", *OBJECTIVES[objective].parts} == set(history.history)
    assert int(trainer.student_optimizer.iterations.numpy()) == 2 * trainer.student_steps
    assert int(trainer.generator_optimizer.iterations.numpy()) == 2
    assert all(math.isfinite(values[-1]) for values in history.history.values())


def test_the_adversarial_generator_loss_is_the_negative_of_the_students_l1():
    trainer = _trainer("adversarial", generator="dfad")
    images = trainer.generate(*_batch())
    total, parts = trainer.generator_loss(images, _batch()[1])
    student_l1 = trainer.student_step(images)  # the loss before its update, on the same images and weights
    np.testing.assert_allclose(float(total), -float(student_l1), rtol=1e-6)
    assert float(parts["adversarial"]) == float(total) < 0


def test_real_images_train_the_student_alone():
    trainer = _trainer("adversarial", student_steps=2)
    generator_before = _values(trainer.generator.variables)
    images = tf.random.stateless_normal([2 * BATCH, *SHAPE], seed=[3, 3])
    labels = tf.zeros([2 * BATCH], tf.int32)
    trainer.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(), epochs=1, steps_per_epoch=1, verbose=0)
    assert _changed(generator_before, trainer.generator.variables) == set()
    assert int(trainer.student_optimizer.iterations.numpy()) == 2


def test_dafl_terms_equal_hand_computed_values():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    features = np.array([[1.0, -3.0], [0.5, 0.0]], np.float32)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    one_hot = -np.mean(np.log([softmax[0, 0], softmax[1, 1]]))
    mean = softmax.mean(axis=0)
    entropy = float(np.sum(mean * np.log(mean)))
    np.testing.assert_allclose(one_hot_loss(logits), one_hot, rtol=1e-6)
    np.testing.assert_allclose(activation_loss(features), -(1.0 + 3.0 + 0.5 + 0.0) / 4, rtol=1e-6)
    np.testing.assert_allclose(information_entropy_loss(logits), entropy, rtol=1e-5)
    total, *_ = dafl_loss(logits, features, activation_weight=0.1, entropy_weight=5.0)
    np.testing.assert_allclose(total, one_hot + 0.1 * -1.125 + 5.0 * entropy, rtol=1e-5)
    balanced = np.eye(3, dtype=np.float32) * 50.0  # one confident image per class: the entropy term's minimum
    np.testing.assert_allclose(information_entropy_loss(balanced), -math.log(3), rtol=1e-5)


def test_logit_l1_is_the_mean_absolute_difference():
    np.testing.assert_allclose(logit_l1([[1.0, -2.0]], [[0.5, 1.0]]), (0.5 + 3.0) / 2)


def test_bad_objective_and_student_steps_are_named():
    teacher = make_tiny_teacher(SHAPE, CLASSES)
    with pytest.raises(UserError, match="'gan'.*adversarial"):
        DistillAdversarialTrainer(None, teacher, teacher, "gan")
    with pytest.raises(UserError, match="student_steps=0"):
        DistillAdversarialTrainer(None, teacher, teacher, student_steps=0)


def test_the_combined_objective_sums_its_terms():
    trainer = _trainer("adversarial+reconstruction")
    z, labels = _batch()
    images = trainer.generate(z, labels)
    total, parts = trainer.generator_loss(images, labels)
    expected = parts["adversarial"] + parts["generator_ce"] + trainer.bns_weight * parts["bns"]
    np.testing.assert_allclose(float(total), float(expected), rtol=1e-6)
    student_l1 = logit_l1(trainer.teacher(images, training=False), trainer.student(images, training=True))
    np.testing.assert_allclose(float(parts["adversarial"]), -float(student_l1), rtol=1e-6)
