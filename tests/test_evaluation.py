"""Top-k accuracy of Keras logits and of a .tflite: ties rank by class index, as argmax and a deployed model decide."""

import numpy as np

from autorecon_tf.evaluation import topk_accuracy


def test_tied_top_scores_count_the_lowest_class_as_the_top1():
    # Scores on a coarse grid, as int8 logits are: many rows have tied top classes.
    rng = np.random.default_rng(0)
    logits = (np.round(rng.normal(size=(2000, 10)) * 2) / 2).astype(np.float32)
    labels = rng.integers(0, 10, 2000)
    tied = np.sum(logits == logits.max(1, keepdims=True), axis=1) > 1
    assert tied.mean() > 0.05
    # numpy's default argsort is not stable on such rows (4% of them put another tied class first).
    assert topk_accuracy(logits, labels, ks=(1,))["top1"] == np.mean(np.argmax(logits, 1) == labels)
    assert topk_accuracy(logits, np.argmax(logits, 1), ks=(1,))["top1"] == 1.0


def test_a_tflite_model_with_tied_logits_is_scored_by_the_same_rule(tmp_path):
    """tools/evaluate.py on a .tflite whose logits lie on a coarse grid, as int8 logits do."""
    from autorecon_tf.compat import keras, tf
    from autorecon_tf.export.convert import convert_float
    from autorecon_tf.export.runtime import evaluate_tflite, run_tflite

    keras.utils.set_random_seed(0)
    image = keras.Input((4,))
    coarse = keras.layers.Lambda(lambda t: tf.round(t * 2) / 2)(keras.layers.Dense(10)(image))
    path = tmp_path / "coarse.tflite"
    path.write_bytes(convert_float(keras.Model(image, coarse)))
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(2000, 4)).astype(np.float32), rng.integers(0, 10, 2000)
    logits = run_tflite(str(path), x)
    assert np.mean(np.sum(logits == logits.max(1, keepdims=True), axis=1) > 1) > 0.05  # many tied rows
    assert evaluate_tflite(str(path), x, labels) == topk_accuracy(logits, labels)
    assert evaluate_tflite(str(path), x, np.argmax(logits, 1))["top1"] == 1.0
