"""NearestUpsampleConv2D is UpSampling2D(nearest) + Conv2D('same'): outputs, gradients, shapes, saving."""

import numpy as np
import pytest
from layer_test import run_layer_test

from autorecon_tf.compat import keras, tf
from autorecon_tf.generators.upsample_conv import NearestUpsampleConv2D, fold_matrix


def _pair(kernel_size, filters):
    """The two-layer reference, built on its own so its weights can be copied in."""
    return keras.Sequential(
        [
            keras.layers.UpSampling2D(2, interpolation="nearest"),
            keras.layers.Conv2D(filters, kernel_size, padding="same"),
        ]
    )


def _matched(kernel_size, in_channels, filters, seed=0):
    rng = np.random.default_rng(seed)
    fused, pair = NearestUpsampleConv2D(filters, kernel_size), _pair(kernel_size, filters)
    fused.build((None, None, None, in_channels))
    pair.build((None, 4, 4, in_channels))
    kernel = rng.standard_normal((kernel_size, kernel_size, in_channels, filters)).astype("float32")
    bias = rng.standard_normal(filters).astype("float32")
    fused.set_weights([kernel, bias])
    pair.layers[1].set_weights([kernel, bias])
    return fused, pair


def test_fold_matrix_for_3x3_is_the_documented_one():
    np.testing.assert_array_equal(fold_matrix(3), [[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])
    assert fold_matrix(5).sum(axis=0).tolist() == [2.0] * 5  # every tap lands on two output phases


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
@pytest.mark.parametrize("size", [(4, 4), (7, 5), (1, 3)])
def test_outputs_and_gradients_equal_upsampling_then_conv(kernel_size, size):
    fused, pair = _matched(kernel_size, 3, 4)
    x = tf.constant(np.random.default_rng(1).standard_normal((2, *size, 3)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, reference = fused(x), pair(x)
        weights = tf.reshape(tf.range(tf.size(ours), dtype=tf.float32), ours.shape) / 100.0
        ours_loss, reference_loss = tf.reduce_sum(ours * weights), tf.reduce_sum(reference * weights)
    assert ours.shape == (2, 2 * size[0], 2 * size[1], 4)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-4)
    for ours_grad, reference_grad in zip(
        tape.gradient(ours_loss, [x, *fused.trainable_weights]),
        tape.gradient(reference_loss, [x, *pair.layers[1].trainable_weights]),
    ):
        np.testing.assert_allclose(ours_grad.numpy(), reference_grad.numpy(), rtol=1e-4, atol=1e-3)


def test_weights_have_conv2d_shapes_and_initialisers():
    fused, conv = NearestUpsampleConv2D(6, 3), keras.layers.Conv2D(6, 3, padding="same")
    fused.build((None, 5, 5, 2))
    conv.build((None, 10, 10, 2))
    assert [w.shape for w in fused.weights] == [w.shape for w in conv.weights]
    assert [w.name.split("/")[-1] for w in fused.weights] == ["kernel:0", "bias:0"]
    assert not NearestUpsampleConv2D(6, 3, use_bias=False).get_config()["use_bias"]


def test_unknown_spatial_size_in_a_functional_model():
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, NearestUpsampleConv2D(3, 3)(inputs))
    assert model.output_shape == (None, None, None, 3)
    assert model(tf.zeros([1, 3, 6, 2])).shape == (1, 6, 12, 3)


@pytest.mark.parametrize("use_bias", [True, False])
def test_is_a_serializable_layer_that_trains_and_loads_back(use_bias):
    init = {"filters": 3, "kernel_size": 3, "use_bias": use_bias, "name": "up_conv"}
    outputs = run_layer_test(NearestUpsampleConv2D, init, input_shape=(2, 4, 4, 2))
    assert tuple(outputs.shape) == (2, 8, 8, 3)


@pytest.mark.parametrize("kernel_size", [2, 0])
def test_even_or_zero_kernel_size_is_refused(kernel_size):
    with pytest.raises(ValueError, match=f"kernel_size={kernel_size}"):
        NearestUpsampleConv2D(3, kernel_size)
