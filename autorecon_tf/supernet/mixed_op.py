"""One edge of the stochastic supernet: a weighted sum of its candidate ops (Eq. 8)."""

from autorecon_tf.compat import keras, tf
from autorecon_tf.search_space.ops import NEGATIVE_SLOPE, OPS, PRIMITIVES, ZERO_OPS


@keras.saving.register_keras_serializable(package="autorecon_tf")
class MixedOp(keras.layers.Layer):
    """Computes sum_j m_j O_j(x) over the candidate ops of an edge kind (paper Eq. 8).

    "none" candidates are not computed: their term m_j * 0 is zero, and alpha_j
    still gets gradients through the softmax that normalises m.

    With ``affine=False`` (the search setting) every convolution candidate of a
    normal-edge starts with the same parameter-free BatchNorm -> LeakyReLU of
    the same input, which in training mode is the same tensor; the edge computes
    it once and feeds it to each candidate's convolution. That is the same
    function with a third of the layer calls, which shortens graph tracing.

    Args:
        kind: edge kind, a key of ``PRIMITIVES`` ("normal", "up" or "cross").
        channels: output channels of the edge.
        affine: BatchNorm scale/shift inside the candidates (off during the search, as in DARTS).

    Example:
        edge = MixedOp("normal", 16)
        out = edge(x, weights)  # weights: (len(PRIMITIVES["normal"]),), e.g. a Gumbel sample
    """

    def __init__(self, kind, channels, affine=False, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind
        self.channels = int(channels)
        self.affine = bool(affine)
        self.op_names = PRIMITIVES[kind]
        self.share_preactivation = kind == "normal" and not self.affine
        self.candidates = []
        for op in self.op_names:
            candidate = None if op in ZERO_OPS else OPS[op](self.channels, name=f"{self.name}_{op}", affine=self.affine)
            if candidate is not None and self.share_preactivation and op.startswith(("conv", "dil_conv")):
                candidate = candidate.layers[-1]  # the convolution; BN -> LeakyReLU is shared
            self.candidates.append(candidate)
        if self.share_preactivation:
            self.preactivation_bn = keras.layers.BatchNormalization(center=False, scale=False, name=f"{self.name}_bn")
            self.preactivation_act = keras.layers.LeakyReLU(NEGATIVE_SLOPE, name=f"{self.name}_act")

    def call(self, inputs, weights, training=None):
        activated = None
        if self.share_preactivation:
            activated = self.preactivation_act(self.preactivation_bn(inputs, training=training))
        terms = []
        for index, (op, candidate) in enumerate(zip(self.op_names, self.candidates)):
            if candidate is None:
                continue
            if activated is not None and op != "identity":
                terms.append(weights[index] * candidate(activated))
            else:
                terms.append(weights[index] * candidate(inputs, training=training))
        return tf.add_n(terms)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "channels": self.channels, "affine": self.affine}
