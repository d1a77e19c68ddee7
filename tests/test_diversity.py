"""The data-free diversity measure: hand-computed values, 0 for identical images, growing with their spread."""

import math

import numpy as np
import pytest

from autorecon_tf.losses.diversity import (
    diversity,
    feature_model,
    prediction_entropy,
    prediction_information,
    within_class_distance,
)


def test_within_class_distance_by_hand():
    features = np.array([[0, 0], [3, 4], [1, 1], [1, 1], [9, 9]], "float32")
    classes = np.array([0, 0, 1, 1, 2])  # class 2 has one image: left out
    assert float(within_class_distance(features, classes)) == pytest.approx((5.0 + 0.0) / 2)
    assert float(within_class_distance(features[:1], classes[:1])) == 0.0


def test_prediction_entropy_and_information_by_hand():
    one_hots = np.array([[1, 0], [0, 1]], "float32")
    assert float(prediction_entropy(one_hots)) == pytest.approx(math.log(2), abs=1e-5)
    assert float(prediction_information(one_hots)) == pytest.approx(math.log(2), abs=1e-5)
    same = np.array([[0.5, 0.5], [0.5, 0.5]], "float32")
    assert float(prediction_entropy(same)) == pytest.approx(math.log(2), abs=1e-5)
    assert float(prediction_information(same)) == pytest.approx(0.0, abs=1e-6)


def test_zero_for_identical_images_and_growing_with_spread(tiny_teacher):
    model, rng = feature_model(tiny_teacher), np.random.default_rng(0)
    base, offsets = rng.normal(size=(1, 8, 8, 1)), rng.normal(size=(16, 8, 8, 1))
    labels = np.repeat(np.arange(4), 4).astype("int32")
    measures = [diversity(model, (base + spread * offsets).astype("float32"), labels) for spread in (0.0, 0.3, 1, 3)]
    assert float(measures[0]["feature_distance"]) == 0.0
    assert float(measures[0]["prediction_information"]) == pytest.approx(0.0, abs=1e-6)
    distances = [float(measure["feature_distance"]) for measure in measures]
    information = [float(measure["prediction_information"]) for measure in measures]
    assert distances == sorted(distances) and distances[-1] > distances[1] > 0
    assert information[-1] > information[1] > 0
