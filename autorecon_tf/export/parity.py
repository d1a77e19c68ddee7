"""Keras-vs-LiteRT parity, file size and single-thread batch-1 latency."""

import statistics
import time

import numpy as np

from autorecon_tf.compat import tf
from autorecon_tf.export.tflite import make_interpreter, run_tflite
from autorecon_tf.quantization.student import static_ranges


def keras_logits(model, images, batch_size=256):
    """Outputs of a Keras model in inference mode; student ranges are read, never updated."""
    outputs = []
    with static_ranges(model):
        call = tf.function(lambda x: model(x, training=False))
        for start in range(0, len(images), batch_size):
            outputs.append(call(images[start : start + batch_size]).numpy())
    return np.concatenate(outputs)


def parity_report(keras_model, tflite_model, images, labels, batch_size=256):
    """Top-1 agreement, largest logit difference and both accuracies on ``(images, labels)``."""
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels).reshape(-1)
    keras_out = keras_logits(keras_model, images, batch_size)
    tflite_out = run_tflite(tflite_model, images, batch_size)
    keras_top1 = np.argmax(keras_out, 1)
    tflite_top1 = np.argmax(tflite_out, 1)
    return {
        "examples": int(len(images)),
        "top1_agreement": float(np.mean(keras_top1 == tflite_top1)),
        "max_logit_difference": float(np.max(np.abs(keras_out - tflite_out))),
        "keras_top1": float(np.mean(keras_top1 == labels)),
        "tflite_top1": float(np.mean(tflite_top1 == labels)),
    }


def convert_float(model):
    """A float32 .tflite of a Keras model (the teacher baseline for size and latency)."""
    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model).convert()


def measure_latency(tflite_model, runs=200, warmup=20, num_threads=1, seed=0):
    """Median and p90 milliseconds of one batch-1 invoke (default delegates, ``num_threads`` threads)."""
    interpreter = make_interpreter(tflite_model, num_threads=num_threads)
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(seed)
    if detail["dtype"] == np.float32:
        sample = rng.standard_normal(detail["shape"]).astype(np.float32)
    else:
        sample = rng.integers(-128, 128, detail["shape"]).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], sample)
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "runs": runs,
        "threads": num_threads,
        "batch": 1,
    }
