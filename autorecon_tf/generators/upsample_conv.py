"""Nearest x2 up-sampling then a k x k 'same' convolution, computed as one transposed convolution.

GDFQ's generator up-samples (nearest, x2) and then convolves (3x3, 'same'), twice;
the two convolutions are most of its compute. Each output pixel of that pair reads
k x k up-sampled pixels, but these repeat only (k+1)/2 distinct input pixels per
axis. So the pair equals a stride-2 transposed convolution whose (k+1) x (k+1)
kernel sums taps of the k x k kernel, per axis ``K'[s] = sum_t A[s, t] K[t]``
with ``A[s, t] = 1`` iff ``s`` is ``k-1-t`` or ``k-t``. For k = 3::

    A = [[0, 0, 1],      # odd output rows: the input row below, through w2
         [0, 1, 1],      # even output rows: their own input row, through w1 + w2
         [1, 1, 0],      # odd output rows: their own input row, through w0 + w1
         [1, 0, 0]]      # even output rows: the input row above, through w0

That is (k+1)^2 / 4 multiply-adds per output pixel instead of k^2: 4 against 9 at
k = 3, forward and backward. On the 2-core machine the pair's forward and backward
at GDFQ's shapes (batch 128, 128 -> 64 channels at 16 -> 32) runs about 2x faster
(BENCHMARKS.md, "Compress-step throughput").

The layer's weight is the k x k kernel itself, with Conv2D's shape, initialiser and
bias, so it is the same parameterisation as ``UpSampling2D`` + ``Conv2D``; the
outputs agree to float rounding (tests/test_upsample_conv.py). Bilinear up-sampling
has no such folding and is not covered.
"""

import numpy as np

from autorecon_tf.compat import keras, tf


def fold_matrix(kernel_size):
    """``A`` of the module docstring: (k+1) x k, 1 where tap t of the k-kernel lands on tap s."""
    fold = np.zeros((kernel_size + 1, kernel_size), np.float32)
    for tap in range(kernel_size):
        fold[kernel_size - 1 - tap, tap] = fold[kernel_size - tap, tap] = 1.0
    return fold


@keras.saving.register_keras_serializable(package="autorecon_tf")
class NearestUpsampleConv2D(keras.layers.Layer):
    """``Conv2D(filters, k, padding="same")(UpSampling2D(2, "nearest")(x))`` at (k+1)^2/4 of the cost per pixel.

    Args:
        filters: output channels.
        kernel_size: odd k of the k x k convolution.
        use_bias, kernel_initializer, bias_initializer: as in ``Conv2D``.

    Example:
        x = NearestUpsampleConv2D(64, 3, name="block2_conv")(x)  # (n, h, w, c) -> (n, 2h, 2w, 64)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(kernel_size) < 1 or int(kernel_size) % 2 != 1:
            raise ValueError(f"NearestUpsampleConv2D kernel_size={kernel_size} must be a positive odd integer")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        size = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(size, size, int(input_shape[-1]), self.filters), initializer=self.kernel_initializer
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
        super().build(input_shape)

    def call(self, inputs):
        fold = tf.constant(fold_matrix(self.kernel_size), dtype=inputs.dtype)
        # (k+1, k+1, filters, in): conv2d_transpose takes its kernel as [h, w, out, in].
        kernel = tf.einsum("ar,bc,rcio->aboi", fold, fold, tf.cast(self.kernel, inputs.dtype))
        dynamic = tf.shape(inputs)
        height, width = (2 * d if d is not None else 2 * dynamic[i + 1] for i, d in enumerate(inputs.shape[1:3]))
        outputs = tf.nn.conv2d_transpose(
            inputs, kernel, tf.stack([dynamic[0], height, width, self.filters]), strides=2, padding="SAME"
        )
        outputs.set_shape(self.compute_output_shape(inputs.shape))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, outputs.dtype))
        return outputs

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = tf.TensorShape(input_shape).as_list()
        return tf.TensorShape(
            [batch, None if height is None else 2 * height, None if width is None else 2 * width, self.filters]
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
