"""DistillTrainer: the student's KD step shared by the baselines; what its logged agreement measures."""

import numpy as np

from autorecon_tf.compat import keras
from autorecon_tf.trainers import optimizers
from autorecon_tf.trainers.distill_trainer import DistillTrainer

from conftest import make_tiny_teacher


def _agreement_after_one_warmup_step(teacher, student, images):
    trainer = DistillTrainer(teacher, student)
    trainer.compile(student_optimizer=optimizers.student_optimizer())
    trainer.warmup = True  # forward only: no weight changes, so the expected value is computable by hand
    return trainer.fit(images, batch_size=len(images), epochs=1, verbose=0).history["agreement"][0]


def test_agreement_is_the_share_of_images_where_student_and_teacher_top1_match():
    teacher = make_tiny_teacher(seed=0)
    other = make_tiny_teacher(seed=1)  # same architecture, other weights: agrees on some images only
    images = np.random.default_rng(4).standard_normal((64, 8, 8, 1)).astype("float32")
    teacher_top1 = np.argmax(teacher.predict(images, verbose=0), -1)
    other_top1 = np.argmax(other.predict(images, verbose=0), -1)
    expected = float(np.mean(teacher_top1 == other_top1))
    assert 0.0 < expected < 1.0  # the case is informative
    assert _agreement_after_one_warmup_step(teacher, other, images) == np.float32(expected)
    copy = keras.models.clone_model(teacher)
    copy.set_weights(teacher.get_weights())
    assert _agreement_after_one_warmup_step(teacher, copy, images) == 1.0
