"""The BatchNorm-statistics (BNS) loss of GDFQ (Eq. 3 of AutoReCon).

At every BatchNorm layer of the frozen teacher, the mean and (biased) variance
of the *input* of the layer over a generated batch are compared with the
layer's moving mean and variance:

    L_BNS = 1/L * sum_l ( MSE(mu_l(x), mu_l) + MSE(sigma^2_l(x), sigma^2_l) )

To read the BN inputs of any teacher, nested sub-models included, without
rebuilding its graph, :class:`BatchNormStatistics` wraps each BN layer's
``call`` (on the instance) so that it records its input's moments whenever
recording is on. Recording happens at trace time inside ``tf.function``, so the
recorded tensors belong to the traced graph of the same forward pass. Several
instances may tap the same teacher; each records only inside its own ``record()``.
"""

import contextlib
import weakref

from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError
from autorecon_tf.teachers.loader import find_batchnorm_layers


def batch_moments(inputs):
    """Per-channel mean and biased variance over all axes but the last."""
    axes = list(range(len(inputs.shape) - 1))
    mean, variance = tf.nn.moments(tf.cast(inputs, tf.float32), axes=axes)
    return mean, variance


def bns_loss(moments, layers):
    """Eq. 3: mean over layers of MSE(batch mean, moving mean) + MSE(batch var, moving var)."""
    if not moments:
        raise UserError("no BatchNorm statistics were recorded: the teacher has no BatchNormalization layer")
    terms = []
    for (mean, variance), layer in zip(moments, layers):
        terms.append(
            tf.reduce_mean(tf.square(mean - layer.moving_mean))
            + tf.reduce_mean(tf.square(variance - layer.moving_variance))
        )
    return tf.add_n(terms) / float(len(terms))


# layer -> the recordings currently open on it. Kept outside the layer so that Keras'
# attribute tracking never sees it (nothing extra is saved with the teacher).
_SINKS = weakref.WeakKeyDictionary()


def _tap(layer):
    """Wraps ``layer.call`` once; the wrapper feeds every active recording of any instance."""
    if layer in _SINKS:
        return
    original = layer.call
    sinks = _SINKS[layer] = []

    def call(inputs, *args, **kwargs):
        if sinks:
            moments = batch_moments(inputs)
            for sink in sinks:
                sink.append(moments)
        return original(inputs, *args, **kwargs)

    layer.call = call


class BatchNormStatistics:
    """Taps every BatchNorm layer of ``model`` to compute the BNS loss of a forward pass.

    Example:
        stats = BatchNormStatistics(teacher)
        with stats.record() as moments:
            logits = teacher(images, training=False)
        loss = stats.loss(moments)
    """

    def __init__(self, model):
        self.model = model
        self.layers = find_batchnorm_layers(model)
        if not self.layers:
            raise UserError(
                f"model {model.name!r} has no BatchNormalization layer: data-free compression needs BatchNorm statistics"
            )
        for layer in self.layers:
            _tap(layer)

    @contextlib.contextmanager
    def record(self):
        """Collects (mean, variance) of every BN input during the enclosed forward pass."""
        moments = []
        for layer in self.layers:
            _SINKS[layer].append(moments)
        try:
            yield moments
        finally:
            for layer in self.layers:
                _SINKS[layer].remove(moments)

    def loss(self, moments):
        if len(moments) != len(self.layers):
            raise RuntimeError(
                f"recorded {len(moments)} BatchNorm inputs for {len(self.layers)} layers; "
                "call the tapped model exactly once inside record()"
            )
        return bns_loss(moments, self.layers)

    def __call__(self, images, training=False):
        """Returns (teacher outputs, BNS loss) for ``images``."""
        with self.record() as moments:
            outputs = self.model(images, training=training)
        return outputs, self.loss(moments)
