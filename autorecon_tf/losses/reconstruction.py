"""The reconstruction loss L_r of AutoReCon (Sec. 3.2, the objective of Eq. 2 and 6).

    L_r = CE(teacher(G(z | y)), y) + lambda * L_BNS

CE makes generated images carry the class the generator was asked for (the
class-boundary information of GDFQ); L_BNS (Eq. 3, computed by
:class:`~autorecon_tf.losses.bn_statistics.BatchNormStatistics`) makes the
statistics of their features match the teacher's BatchNorm running statistics
(the distribution information). GDFQ uses lambda = 0.1.
"""

from autorecon_tf.compat import keras, tf


def reconstruction_loss(teacher_stats, images, labels, bns_weight=0.1, outputs_probabilities=False):
    """L_r on a generated batch; returns (total, ce, bns, teacher outputs).

    Args:
        teacher_stats: a ``BatchNormStatistics`` wrapping the frozen teacher.
        images: generated images in the teacher's normalised input space.
        labels: int class labels the images were generated for.
        bns_weight: lambda.
        outputs_probabilities: True if the teacher ends with softmax (else it outputs logits).

    The teacher is called with training=False: its BatchNorm layers normalise with
    their moving statistics and are never updated.
    """
    outputs, bns = teacher_stats(images, training=False)
    ce = tf.reduce_mean(
        keras.losses.sparse_categorical_crossentropy(labels, outputs, from_logits=not outputs_probabilities)
    )
    return ce + bns_weight * bns, ce, bns, outputs
