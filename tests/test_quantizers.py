"""Quantizers against hand-computed values on tiny tensors (GDFQ's weight and activation grids)."""

import numpy as np
import pytest

from autorecon_tf.compat import keras, tf
from autorecon_tf.quantization.quantizers import ActivationQuantizer, WeightQuantizer, quantize_activation


def _activation_quantizer(bits, momentum=0.9):
    layer = keras.layers.Layer()
    quantizer = ActivationQuantizer(bits, momentum)
    return quantizer, quantizer.build(None, "output", layer)


def test_per_channel_w4_matches_hand_computed_grid():
    # Channel 0: min -1, max 2 -> step 3/15 = 0.2, zero point round(1/0.2) = 5, levels -5..10.
    # Channel 1: min -0.5 (clipped to include 0: max 0) -> step 0.5/15, zero point 15, levels -15..0.
    kernel = tf.constant([[-1.0, -0.5], [0.29, -0.1], [2.0, -0.26]])
    result = WeightQuantizer(4)(kernel, training=True, weights={}).numpy()
    step0, step1 = 0.2, 0.5 / 15
    expected = np.array(
        [
            [-5 * step0, -15 * step1],
            [1 * step0, -3 * step1],
            [10 * step0, -8 * step1],
        ]
    )
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_signed_w4_grid_is_int4s_levels_whatever_the_channels_skew():
    # Channel 0: min -1, max 2 -> step max(1/8, 2/7) = 2/7, levels -8..7 (used: -4..7).
    # Channel 1: all negative, min -0.5 -> step 0.5/8, levels -8..0: the asymmetric grid would use -15..0.
    kernel = tf.constant([[-1.0, -0.5], [0.29, -0.1], [2.0, -0.26]])
    result = WeightQuantizer(4, signed=True)(kernel, training=True, weights={}).numpy()
    step0, step1 = 2 / 7, 0.5 / 8
    expected = np.array([[-3 * step0, -8 * step1], [1 * step0, -2 * step1], [7 * step0, -4 * step1]])
    np.testing.assert_allclose(result, expected, atol=1e-6)
    levels = result / np.array([step0, step1])
    assert levels.min() >= -8 and levels.max() <= 7


def test_weight_quantizer_is_straight_through():
    kernel = tf.Variable([[-1.0, 0.5], [0.3, 2.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(WeightQuantizer(3)(kernel, training=True, weights={}) * [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(tape.gradient(loss, kernel).numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_w8_is_symmetric_narrow_range():
    kernel = tf.constant([[-1.0], [0.5], [0.004]])
    result = WeightQuantizer(8)(kernel, training=True, weights={}).numpy()
    np.testing.assert_allclose(result[:, 0], np.array([-127, 64, 1]) / 127.0, atol=1e-6)


def test_depthwise_kernel_is_per_output_channel():
    kernel = tf.reshape(tf.constant([1.0, -2.0, 0.3, 4.0, 0.01, -0.6], tf.float32), (1, 1, 2, 3))
    kernel = tf.tile(kernel, (2, 1, 1, 1)) * tf.constant([1.0, 0.5])[:, None, None, None]
    result = WeightQuantizer(2, depthwise=True)(kernel, training=True, weights={}).numpy()
    for channel in range(6):
        assert len(np.unique(result.reshape(2, 6)[:, channel])) <= 4


def test_asymmetric_a4_matches_hand_computed_values():
    # Range [-1, 2]: step 0.2, zero point 5 -> grid -1.0, -0.8, ..., 2.0; clipped outside.
    values = tf.constant([-3.0, -0.31, 0.0, 0.5, 1.99, 7.0])
    result = quantize_activation(values, tf.constant(-1.0), tf.constant(2.0), 4).numpy()
    np.testing.assert_allclose(result, [-1.0, -0.4, 0.0, 0.6, 2.0, 2.0], atol=1e-6)


def test_activation_range_starts_from_first_batch_then_follows_ema():
    quantizer, weights = _activation_quantizer(4)
    quantizer(tf.constant([0.0, 3.0]), training=False, weights=weights)
    assert (weights["min"].numpy(), weights["max"].numpy()) == (0.0, 3.0)
    quantizer(tf.constant([-1.0, 1.0]), training=False, weights=weights)
    np.testing.assert_allclose([weights["min"].numpy(), weights["max"].numpy()], [-0.1, 2.8], atol=1e-6)


def test_frozen_range_does_not_move_and_quantizes_with_it():
    quantizer, weights = _activation_quantizer(2)
    quantizer(tf.constant([0.0, 3.0]), training=True, weights=weights)
    weights["range_update"].assign(False)
    result = quantizer(tf.constant([0.4, 10.0]), training=True, weights=weights).numpy()
    assert (weights["min"].numpy(), weights["max"].numpy()) == (0.0, 3.0)
    np.testing.assert_allclose(result, [0.0, 3.0], atol=1e-6)  # 2 bits on [0, 3]: levels 0, 1, 2, 3


def test_range_flag_is_read_inside_a_traced_function():
    quantizer, weights = _activation_quantizer(4)
    call = tf.function(lambda x: quantizer(x, training=False, weights=weights))
    call(tf.constant([0.0, 1.0]))
    weights["range_update"].assign(False)
    call(tf.constant([0.0, 5.0]))
    assert weights["max"].numpy() == 1.0
    weights["range_update"].assign(True)
    call(tf.constant([0.0, 5.0]))
    np.testing.assert_allclose(weights["max"].numpy(), 1.4, atol=1e-6)


def test_activation_gradient_is_clipped_straight_through():
    values = tf.Variable([-0.5, 0.3, 1.2, 4.0])
    with tf.GradientTape() as tape:
        output = quantize_activation(values, tf.constant(0.0), tf.constant(3.0), 4)
    np.testing.assert_allclose(tape.gradient(output, values).numpy(), [0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("bits", [1, 9, "four", 4.0, True])
def test_quantizers_reject_bad_bits(bits):
    with pytest.raises(ValueError, match="num_bits"):
        WeightQuantizer(bits)
    with pytest.raises(ValueError, match="num_bits"):
        ActivationQuantizer(bits)


def test_quantizer_config_round_trip():
    for quantizer in (
        WeightQuantizer(3, depthwise=True),
        WeightQuantizer(4, signed=True),
        ActivationQuantizer(5, momentum=0.8),
    ):
        assert type(quantizer).from_config(quantizer.get_config()) == quantizer
    # A config saved before signed grids existed loads as GDFQ's asymmetric grid.
    assert WeightQuantizer.from_config({"num_bits": 4, "depthwise": False}) == WeightQuantizer(4)
    assert WeightQuantizer(4, signed=True) != WeightQuantizer(4)
