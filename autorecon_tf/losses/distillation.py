"""The student loss of GDFQ: knowledge distillation plus cross-entropy with the sampled labels.

    L_S = kd_weight * T^2 * KL( softmax(t / T) || softmax(s / T) ) + ce_weight * CE(s, y)

``t`` and ``s`` are teacher and student logits, ``T`` the temperature (GDFQ: 20)
and ``y`` the labels the generator was conditioned on. The KL divergence is
summed over classes and averaged over the batch ("batchmean"), the form whose
gradient scale is independent of the number of classes; GDFQ's PyTorch code
uses ``nn.KLDivLoss()`` with its default element-wise mean, i.e. an extra
factor 1/num_classes, which ``kd_weight`` can reproduce.
"""

from autorecon_tf.compat import tf


def kd_loss(teacher_logits, student_logits, temperature):
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)), averaged over the batch; 0 for equal logits."""
    temperature = tf.cast(temperature, tf.float32)
    teacher_log_probs = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature, axis=-1)
    student_log_probs = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature, axis=-1)
    per_example = tf.reduce_sum(tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return tf.reduce_mean(per_example) * temperature * temperature


def label_cross_entropy(labels, logits):
    """Mean sparse categorical cross-entropy of ``logits`` against integer ``labels``."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(tf.reshape(labels, [-1]), tf.int32), logits=tf.cast(logits, tf.float32)
    )
    return tf.reduce_mean(per_example)


def distillation_loss(teacher_logits, student_logits, labels, temperature=20.0, kd_weight=1.0, ce_weight=1.0):
    """Returns ``(total, kd, ce)`` of the GDFQ student loss (see the module docstring)."""
    kd = kd_loss(teacher_logits, student_logits, temperature)
    ce = label_cross_entropy(labels, student_logits)
    return kd_weight * kd + ce_weight * ce, kd, ce
