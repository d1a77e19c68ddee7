"""Top-k accuracy: ties rank by class index, as argmax and a deployed model decide."""

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
