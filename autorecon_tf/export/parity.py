"""Keras-vs-LiteRT parity: top-1 agreement, largest logit difference, both accuracies."""

import numpy as np

from autorecon_tf.compat import tf
from autorecon_tf.export.runtime import run_tflite
from autorecon_tf.quantization.student import static_ranges
from autorecon_tf.utils.progress import report_every


def keras_logits(model, images, batch_size=256, progress=None):
    """Outputs of a Keras model in inference mode; student ranges are read, never updated."""
    outputs = []
    with static_ranges(model):
        call = tf.function(lambda x: model(x, training=False))
        for start in range(0, len(images), batch_size):
            outputs.append(call(images[start : start + batch_size]).numpy())
            if progress is not None:
                progress.update(start + len(outputs[-1]))
    return np.concatenate(outputs)


def parity_report(keras_model, tflite_model, images, labels, batch_size=256, progress_label=None):
    """Top-1 agreement, largest logit difference and both accuracies on ``(images, labels)``.

    ``progress_label``: a label (e.g. ``"student parity"``) to print a line every 10 s through each pass
    under (see ``utils/progress.py``); None: silent.
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels).reshape(-1)
    keras_progress = report_every(f"{progress_label}, Keras", len(images), bool(progress_label))
    keras_out = keras_logits(keras_model, images, batch_size, keras_progress)
    tflite_out = run_tflite(
        tflite_model,
        images,
        batch_size,
        progress=report_every(f"{progress_label}, LiteRT", len(images), bool(progress_label)),
    )
    keras_top1 = np.argmax(keras_out, 1)
    tflite_top1 = np.argmax(tflite_out, 1)
    return {
        "examples": int(len(images)),
        "top1_agreement": float(np.mean(keras_top1 == tflite_top1)),
        "max_logit_difference": float(np.max(np.abs(keras_out - tflite_out))),
        "keras_top1": float(np.mean(keras_top1 == labels)),
        "tflite_top1": float(np.mean(tflite_top1 == labels)),
    }
