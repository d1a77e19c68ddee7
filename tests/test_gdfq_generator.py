"""GDFQ's generator: shapes for any teacher input, the output normalisation, conditioning, serialisation."""

import numpy as np
import pytest
from layer_test import run_layer_test

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.generators.gdfq import ClassConditionalAffine, build_gdfq_generator
from autorecon_tf.teachers.loader import load_keras_model


def _inputs(batch, latent_dim, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((batch, latent_dim)).astype("float32")
    labels = rng.integers(0, num_classes, batch).astype("int32")
    return z, labels


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 1), (8, 8, 1), (30, 26, 3)])
def test_output_has_the_teacher_input_shape(shape, conditional):
    generator = build_gdfq_generator(shape, 10, latent_dim=8, channel_scale=0.0625, conditional_batchnorm=conditional)
    z, labels = _inputs(4, 8, 10)
    images = generator([z, labels], training=False)
    assert tuple(images.shape) == (4, *shape)
    assert [tuple(t.shape) for t in generator.inputs] == [(None, 8), (None,)]


def test_channel_scale_sets_the_hidden_widths():
    generator = build_gdfq_generator((32, 32, 1), 10, latent_dim=100, channel_scale=0.5)
    assert generator.get_layer("block1_conv").filters == 64
    assert generator.get_layer("block2_conv").filters == 32
    assert generator.get_layer("project").units == 64 * 8 * 8
    full = build_gdfq_generator((32, 32, 1), 10)
    assert full.get_layer("block1_conv").filters == 128 and full.get_layer("block2_conv").filters == 64


def test_training_output_is_normalised_per_channel_without_affine_parameters():
    generator = build_gdfq_generator((8, 8, 3), 4, latent_dim=8, channel_scale=0.125)
    output_bn = generator.get_layer("output_bn")
    assert not output_bn.center and not output_bn.scale and not output_bn.trainable_weights
    z, labels = _inputs(32, 8, 4)
    images = generator([z, labels], training=True).numpy()
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(images.var(axis=(0, 1, 2)), 1.0, atol=1e-2)


@pytest.mark.parametrize("conditional", [False, True])
def test_labels_condition_the_images(conditional):
    generator = build_gdfq_generator((8, 8, 1), 4, latent_dim=8, channel_scale=0.125, conditional_batchnorm=conditional)
    if conditional:  # fresh conditional BN is the same for all classes: make class 1 different
        layer = generator.get_layer("block2_bn_affine")
        gamma = layer.gamma.numpy()
        gamma[1] = 3.0
        layer.gamma.assign(gamma)
    z, _ = _inputs(4, 8, 4)
    zeros = generator([z, np.zeros(4, "int32")], training=False).numpy()
    ones = generator([z, np.ones(4, "int32")], training=False).numpy()
    assert np.abs(zeros - ones).max() > 1e-4


def test_class_conditional_affine_applies_the_row_of_each_label():
    layer = ClassConditionalAffine(3)
    features = tf.ones([2, 1, 1, 2])
    layer([features, tf.constant([0, 2])])
    layer.gamma.assign([[1.0, 1.0], [5.0, 5.0], [2.0, 3.0]])
    layer.beta.assign([[0.0, 0.0], [5.0, 5.0], [0.5, -1.0]])
    out = layer([features, tf.constant([0, 2])]).numpy()
    np.testing.assert_allclose(out[:, 0, 0, :], [[1.0, 1.0], [2.5, 2.0]])


def test_class_conditional_affine_is_a_serializable_layer_that_trains_and_loads_back():
    features = np.random.default_rng(0).standard_normal((4, 2, 2, 2)).astype("float32")
    labels = np.array([0, 1, 2, 1], "int32")
    run_layer_test(ClassConditionalAffine, {"num_classes": 3, "name": "affine"}, input_data=[features, labels])


@pytest.mark.parametrize("conditional", [False, True])
def test_saved_generator_loads_back_with_the_same_outputs(tmp_path, conditional):
    generator = build_gdfq_generator((8, 8, 1), 4, latent_dim=8, channel_scale=0.125, conditional_batchnorm=conditional)
    z, labels = _inputs(4, 8, 4)
    generator([z, labels], training=True)  # move the BN moving statistics
    path = str(tmp_path / "generator.keras")
    generator.save(path)
    loaded = load_keras_model(path, "generator")
    np.testing.assert_allclose(loaded([z, labels], training=False), generator([z, labels], training=False), atol=1e-5)


def test_every_trainable_weight_gets_a_gradient():
    generator = build_gdfq_generator((8, 8, 1), 4, latent_dim=8, channel_scale=0.125, conditional_batchnorm=True)
    z, labels = _inputs(8, 8, 4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(generator([z, labels], training=True) - 0.5))
    gradients = tape.gradient(loss, generator.trainable_variables)
    assert all(gradient is not None for gradient in gradients)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"image_shape": (8, 8)}, "image shape"),
        ({"num_classes": 1}, "num_classes"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"channel_scale": 0.0}, "channel_scale"),
    ],
)
def test_bad_arguments_name_the_input(kwargs, word):
    arguments = {"image_shape": (8, 8, 1), "num_classes": 4, **kwargs}
    with pytest.raises(UserError, match=word):
        build_gdfq_generator(**arguments)


def test_generator_is_a_functional_model():
    generator = build_gdfq_generator((8, 8, 1), 4, latent_dim=8, channel_scale=0.125)
    assert isinstance(generator, keras.Model) and generator._is_graph_network
