"""Baselines: noise calibration, ZeroQ distilled images, real-data QAT; the DistillTrainer they share."""

import numpy as np
import pytest

from autorecon_tf import baselines
from autorecon_tf.compat import tf
from autorecon_tf.data.datasets import load_dataset
from autorecon_tf.data.pipeline import Preprocessing
from autorecon_tf.errors import UserError
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.quantization import activation_ranges, build_student
from autorecon_tf.trainers import optimizers
from autorecon_tf.trainers.distill_trainer import DistillTrainer


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return max(float(np.abs(b - v.numpy()).max()) for b, v in zip(before, variables))


def _ranges(student):
    return np.array(list(activation_ranges(student).values()))


def test_noise_batches_are_standard_normal_images():
    images = next(iter(baselines.noise_dataset((8, 8, 1), 64, seed=3))).numpy()
    assert images.shape == (64, 8, 8, 1)
    assert abs(images.mean()) < 0.05 and abs(images.std() - 1.0) < 0.05


def test_zeroq_images_match_the_bn_statistics_better_than_noise(tiny_teacher):
    noise = np.random.default_rng(0).standard_normal((16, 8, 8, 1)).astype("float32")
    distilled = baselines.distill_images(tiny_teacher, 16, batch_size=16, steps=30, learning_rate=0.1, seed=0)
    stats = BatchNormStatistics(tiny_teacher)  # after distill_images: the newest instance taps the teacher
    assert distilled.shape == (16, 8, 8, 1) and distilled.dtype == np.float32
    assert float(stats(distilled)[1]) < 0.7 * float(stats(noise)[1])


def test_zeroq_rejects_an_empty_budget(tiny_teacher):
    with pytest.raises(UserError, match="num_images"):
        baselines.distill_images(tiny_teacher, 0)


def test_noise_calibration_sets_ranges_without_training(tiny_teacher):
    student = build_student(tiny_teacher, 4, 4)
    trainer = DistillTrainer(tiny_teacher, student)
    trainer.compile(student_optimizer=optimizers.student_optimizer(1e-2))
    weights = _snapshot(student.trainable_variables)
    trainer.warmup = True
    trainer.fit(baselines.noise_dataset((8, 8, 1), 8), epochs=1, steps_per_epoch=2, verbose=0)
    trainer.warmup = False
    ranges = _ranges(student)
    assert _changed(weights, student.trainable_variables) == 0.0
    assert (ranges[:, 1] > ranges[:, 0]).all()  # every activation range was set
    student(tf.random.normal([8, 8, 8, 1]) * 10.0, training=False)
    np.testing.assert_array_equal(_ranges(student), ranges)  # and frozen afterwards


def test_real_data_qat_trains_the_student_not_the_teacher(tiny_teacher):
    data = load_dataset("digits")
    data.y_train = data.y_train % 4  # the tiny teacher has 4 classes
    dataset = baselines.real_dataset(data, Preprocessing.identity(1), 8)
    images, labels = next(iter(dataset))
    assert images.shape == (8, 8, 8, 1) and labels.shape == (8,)
    student = build_student(tiny_teacher, 4, 4)
    trainer = DistillTrainer(tiny_teacher, student)
    trainer.compile(student_optimizer=optimizers.student_optimizer(1e-2))
    trainer.warmup = True
    student(images, training=False)
    trainer.warmup = False
    teacher_before = _snapshot(tiny_teacher.weights)
    student_before = _snapshot(student.trainable_variables)
    trainer.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)
    assert _changed(teacher_before, tiny_teacher.weights) == 0.0
    assert _changed(student_before, student.trainable_variables) > 0.0


def test_distilled_images_without_labels_use_the_teacher_top1(tiny_teacher):
    images = np.random.default_rng(0).standard_normal((8, 8, 8, 1)).astype("float32")
    student = build_student(tiny_teacher, 8, 8)
    trainer = DistillTrainer(tiny_teacher, student, kd_weight=0.0, ce_weight=1.0)
    trainer.compile(student_optimizer=optimizers.student_optimizer())
    trainer.warmup = True
    logs = trainer.train_step(tf.constant(images))
    teacher_top1 = np.argmax(tiny_teacher(images, training=False).numpy(), -1)
    expected = float(
        tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=teacher_top1, logits=student(images, training=False))
        )
    )
    assert float(logs["student_ce"]) == pytest.approx(expected, rel=1e-3)


def test_distilled_images_repeat_in_full_batches_drawn_from_the_set():
    images = np.arange(5, dtype="float32").reshape(5, 1, 1, 1) * np.ones((5, 8, 8, 1), "float32")
    batches = [batch.numpy() for batch in baselines.image_dataset(images, 4, seed=1).take(5)]
    assert all(batch.shape == (4, 8, 8, 1) for batch in batches)  # 20 images from a set of 5: repeated
    drawn = np.concatenate([batch[:, 0, 0, 0] for batch in batches])
    assert set(drawn) == {0.0, 1.0, 2.0, 3.0, 4.0}
    assert all(
        sorted(drawn[start : start + 5]) == [0.0, 1.0, 2.0, 3.0, 4.0] for start in range(0, 20, 5)
    )  # each pass once
