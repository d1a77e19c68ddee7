"""The GDFQ student loss: KL(teacher || student) at temperature T times T^2, plus CE."""

import numpy as np
import pytest

from autorecon_tf.compat import tf
from autorecon_tf.losses.distillation import distillation_loss, kd_loss, label_cross_entropy


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_kd_loss_is_zero_for_equal_logits(temperature):
    logits = tf.constant([[3.0, -1.0, 0.5], [0.0, 0.0, 10.0]])
    assert float(kd_loss(logits, logits, temperature)) == pytest.approx(0.0, abs=1e-6)


def test_kd_loss_equals_the_hand_computed_value():
    teacher = np.array([[2.0, 0.0], [0.0, 1.0]], "float32")
    student = np.array([[0.0, 0.0], [1.0, 0.0]], "float32")
    temperature = 2.0
    p, q = _softmax(teacher / temperature), _softmax(student / temperature)
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1)) * temperature**2
    assert float(kd_loss(teacher, student, temperature)) == pytest.approx(expected, rel=1e-5)
    assert expected > 0


def test_kd_gradient_moves_the_student_towards_the_teacher():
    teacher = tf.constant([[2.0, 0.0, -2.0]])
    student = tf.Variable([[0.0, 0.0, 0.0]])
    with tf.GradientTape() as tape:
        loss = kd_loss(teacher, student, 20.0)
    gradient = tape.gradient(loss, student).numpy()[0]
    assert gradient[0] < 0 < gradient[2]


def test_cross_entropy_with_sampled_labels():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], "float32")
    labels = np.array([2, 0])
    expected = -np.mean(np.log(_softmax(logits)[[0, 1], labels]))
    assert float(label_cross_entropy(labels, logits)) == pytest.approx(expected, rel=1e-5)


def test_total_is_the_weighted_sum():
    teacher = tf.constant([[1.0, 0.0, -1.0]])
    student = tf.constant([[0.0, 1.0, 0.0]])
    labels = tf.constant([0])
    total, kd, ce = distillation_loss(teacher, student, labels, temperature=3.0, kd_weight=0.5, ce_weight=2.0)
    assert float(total) == pytest.approx(0.5 * float(kd) + 2.0 * float(ce), rel=1e-6)
    assert float(kd) == pytest.approx(float(kd_loss(teacher, student, 3.0)))
