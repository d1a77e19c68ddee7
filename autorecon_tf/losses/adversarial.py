"""The losses of data-free adversarial distillation: DFAD's logit L1 and DAFL's generator terms.

DFAD (Fang et al. 2019): the student minimises the mean absolute difference of
student and teacher logits on generated images,

    L1(t, s) = mean_{i,c} |t_ic - s_ic|   (PyTorch's ``F.l1_loss``)

and the generator maximises it (its loss is ``-L1``).

DAFL (Chen et al. 2019, Eq. 6 there): the generator's loss on the frozen teacher's
logits ``t`` and features ``f`` (the input of its last layer) over a batch,

    L_oh = CE(t, argmax t)                     one-hot: confident teacher outputs
    L_a  = -mean |f|                           activation: large feature responses
    L_ie = sum_c p_c log p_c,  p = mean_i softmax(t_i)   information entropy: balanced classes
    L_G  = L_oh + alpha L_a + beta L_ie

``L_ie`` is minus the entropy of the batch's mean class distribution, so it is
smallest (``-log C``) when every class is generated equally often. DAFL's code
uses ``log10`` there; natural log only rescales beta (by ln 10).
"""

from autorecon_tf.compat import tf


def logit_l1(teacher_logits, student_logits):
    """DFAD's L1: mean absolute difference of the logits, over batch and classes."""
    return tf.reduce_mean(tf.abs(tf.cast(teacher_logits, tf.float32) - tf.cast(student_logits, tf.float32)))


def one_hot_loss(teacher_logits):
    """DAFL's L_oh: cross-entropy of the teacher's logits against its own top-1 classes."""
    logits = tf.cast(teacher_logits, tf.float32)
    labels = tf.stop_gradient(tf.argmax(logits, axis=-1, output_type=tf.int32))
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def activation_loss(features):
    """DAFL's L_a: minus the mean absolute feature value."""
    return -tf.reduce_mean(tf.abs(tf.cast(features, tf.float32)))


def information_entropy_loss(teacher_logits):
    """DAFL's L_ie: sum_c p_c log p_c of the batch-mean softmax ``p`` (minus its entropy)."""
    mean_probabilities = tf.reduce_mean(tf.nn.softmax(tf.cast(teacher_logits, tf.float32), axis=-1), axis=0)
    return tf.reduce_sum(mean_probabilities * tf.math.log(mean_probabilities + 1e-12))


def dafl_loss(teacher_logits, features, activation_weight=0.1, entropy_weight=5.0):
    """Returns ``(total, one_hot, activation, information_entropy)`` of DAFL's generator loss.

    Defaults are those of DAFL's training script (``--oh 1 --a 0.1 --ie 5``).
    """
    one_hot = one_hot_loss(teacher_logits)
    activation = activation_loss(features)
    entropy = information_entropy_loss(teacher_logits)
    return one_hot + activation_weight * activation + entropy_weight * entropy, one_hot, activation, entropy
