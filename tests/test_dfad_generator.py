"""DFAD's GeneratorA: shapes, its unused label input, the DFAD widths, and the layer-test checks."""

import numpy as np
import pytest
from layer_test import run_layer_test

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.generators.dfad import DFADGenerator


def _inputs(batch=4, latent_dim=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, latent_dim)).astype("float32"), rng.integers(0, 10, batch).astype("int32")]


def test_layer_test_checks_pass():
    run_layer_test(DFADGenerator, {"image_shape": (8, 8, 1), "latent_dim": 8, "base_channels": 4}, input_data=_inputs())


@pytest.mark.parametrize("shape", [(32, 32, 1), (28, 28, 1), (8, 8, 3)])
def test_output_has_the_teacher_shape_and_unit_statistics(shape):
    generator = DFADGenerator(shape, latent_dim=8, base_channels=4)
    images = generator(_inputs(16), training=True).numpy()
    assert images.shape == (16, *shape)
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)  # the last BN, no affine
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), 1.0, atol=1e-2)


def test_dfad_cifar_widths_dense_to_8x8x128():
    generator = DFADGenerator((32, 32, 3), latent_dim=256)
    assert tuple(generator.get_layer("reshape").output.shape) == (None, 8, 8, 128)
    assert generator.get_layer("block1_conv").filters == 128 and generator.get_layer("block2_conv").filters == 64
    assert generator.get_layer("output_bn").epsilon == 1e-5 and not generator.get_layer("output_bn").scale


def test_labels_are_ignored():
    generator = DFADGenerator((8, 8, 1), latent_dim=8, base_channels=4)
    z, labels = _inputs()
    first = generator([z, labels], training=False)
    second = generator([z, (labels + 1) % 10], training=False)
    np.testing.assert_array_equal(first, second)
    assert isinstance(generator, keras.Model) and len(generator.inputs) == 2
    assert generator.inputs[1].dtype == tf.int32


def test_bad_widths_are_named():
    with pytest.raises(UserError, match="base_channels=0"):
        DFADGenerator((8, 8, 1), base_channels=0)
