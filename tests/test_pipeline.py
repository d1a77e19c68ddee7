import numpy as np
import pytest

from autorecon_tf.data import pipeline
from autorecon_tf.errors import UserError


def test_preprocessing_normalises_and_pads():
    x = np.full((2, 4, 4, 1), 255, np.uint8)
    prep = pipeline.Preprocessing((0.5,), (0.25,), pad_to=8)
    out = prep(x).numpy()
    assert out.shape == (2, 8, 8, 1)
    assert np.allclose(out[:, 2:6, 2:6], 2.0) and np.allclose(out[:, 0, 0], -2.0)
    assert prep.input_shape((4, 4, 1)) == (8, 8, 1)


def test_preprocessing_round_trips_through_json_data():
    prep = pipeline.Preprocessing((0.1, 0.2, 0.3), (1.0, 2.0, 3.0), 32)
    assert pipeline.Preprocessing.from_dict(prep.to_dict()) == prep
    with pytest.raises(UserError, match="needs 'mean', 'std'"):
        pipeline.Preprocessing.from_dict({"mean": [0.1]})


def test_fitted_preprocessing_standardises_training_pixels():
    x = np.random.default_rng(0).integers(0, 256, (64, 5, 5, 1)).astype(np.uint8)
    out = pipeline.fit_preprocessing(x)(x).numpy()
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-4


def test_validation_split_is_fixed_and_disjoint():
    x = np.arange(100)[:, None]
    y = np.arange(100)
    (xt, _), (xv, _) = pipeline.split_validation(x, y, 10)
    (xt2, _), (xv2, _) = pipeline.split_validation(x, y, 10)
    assert np.array_equal(xv, xv2) and len(xt) == 90
    assert not set(xv[:, 0]) & set(xt[:, 0])


def test_train_dataset_augments_with_shape_preserved():
    x = np.random.default_rng(0).integers(0, 256, (8, 6, 6, 1)).astype(np.uint8)
    y = np.arange(8)
    prep = pipeline.Preprocessing.identity(1)
    images, labels = next(iter(pipeline.train_dataset(x, y, prep, 4, crop_padding=2)))
    assert images.shape == (4, 6, 6, 1) and labels.shape == (4,)
