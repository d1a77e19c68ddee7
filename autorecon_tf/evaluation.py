"""Top-1 / top-5 accuracy of a Keras classifier on a real test split."""

import numpy as np

from autorecon_tf.compat import tf
from autorecon_tf.data.pipeline import eval_dataset


def topk_accuracy(logits, labels, ks=(1, 5)):
    """Fractions of rows whose label is among the k highest scores, for each k.

    Tied scores (a clipped int8 logit) rank by index, as ``argmax`` and a deployment do:
    an unstable sort had counted a W6A6 student whose top logits tied on 4.9% of the test
    images at 91.13% top-1 where its argmax gave 88.58%.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    order = np.argsort(-logits, axis=1, kind="stable")  # ties: the lowest index first, as argmax
    result = {}
    for k in ks:
        k_eff = min(k, logits.shape[1])
        result[f"top{k}"] = float(np.mean(np.any(order[:, :k_eff] == labels[:, None], axis=1)))
    return result


def predict_logits(model, x, preprocessing, batch_size=256):
    """Runs ``model`` (training=False) over uint8 images ``x`` after ``preprocessing``."""
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    outputs = [
        forward(images).numpy() for images, _ in eval_dataset(x, np.zeros(len(x), np.int64), preprocessing, batch_size)
    ]
    return np.concatenate(outputs, axis=0)


def evaluate_model(model, x, y, preprocessing, batch_size=256):
    """Returns {"top1", "top5", "examples"} of ``model`` on uint8 images ``x`` with labels ``y``."""
    result = topk_accuracy(predict_logits(model, x, preprocessing, batch_size), y)
    result["examples"] = int(len(y))
    return result


def fidelity(teacher_model, student_model, images, batch_size=256):
    """Data-free fidelity on (generated) ``images`` in the models' input space.

    Returns {"agreement": share of images whose top-1 class the two models agree on,
    "kl": mean KL(teacher || student) of their softmax outputs, "images": count}.
    """

    def forward(model):
        batches = range(0, len(images), batch_size)
        return np.concatenate([model(images[i : i + batch_size], training=False).numpy() for i in batches])

    teacher, student = forward(teacher_model), forward(student_model)
    log_p, log_q = tf.nn.log_softmax(teacher).numpy(), tf.nn.log_softmax(student).numpy()
    kl = np.sum(np.exp(log_p) * (log_p - log_q), axis=1)
    agreement = np.argmax(teacher, axis=1) == np.argmax(student, axis=1)
    return {"agreement": float(np.mean(agreement)), "kl": float(np.mean(kl)), "images": int(len(images))}
