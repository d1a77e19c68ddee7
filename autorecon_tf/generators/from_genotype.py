"""Builds the discovered generator, as a flat functional Keras model, from a genotype.

The builder reads only the :class:`~autorecon_tf.search_space.genotype.Genotype`
(the JSON hand-off from the search), so stage 2 never needs the supernet: it
shares only ``search_space/`` with it (the ops, the macro-architecture, and the
stem and head of :mod:`~autorecon_tf.search_space.stem_head`). It is the
supernet with one op per edge:

    z * Embedding(y) -> Dense -> reshape to ceil(H/8) x ceil(W/8) -> BN
    -> 3 searched blocks (x2 resolution each; "none" edges dropped, a node sums its edges)
    -> BN -> LeakyReLU(0.2) -> Conv3x3(C) -> centre crop to (H, W) -> tanh -> BN(no affine)

Block widths are ``base_channels`` times the channel scale s of paper Table 3.
The paper gives no widths, only that its discovered generator "needs almost the
same parameters" as GDFQ's (Sec. 4.2) and a Table 3 that scales both by the same
s. The default base widths (64, 32, 16) give that at s = 1: with every normal
edge a 5x5 conv (the heaviest genotype) the generator has 0.81M parameters, the
genotype of our standard search (5x5 and dilated 5x5 convs) 0.80M, GDFQ's 0.86M,
on 28x28x1. (At other s the two drift apart: convolutions grow as s^2, GDFQ's
dense projection as s.) Until 2026-11-27 they were (128, 64, 32), GDFQ's 128 and
64 channels for the first two blocks: 3.5x GDFQ's parameters and 4.5x its FLOPs
(BENCHMARKS.md, "generator_cost").
The search itself may use narrower widths (recorded in the genotype's metadata).
Each op is unrolled layer by layer (no nested models), so the generator is an
ordinary functional model that saves, loads, quantizes and exports like any other.
"""

from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.search_space.macro import NUM_BLOCKS, incoming_edges
from autorecon_tf.search_space.ops import OPS, ZERO_OPS
from autorecon_tf.search_space.stem_head import head_layers, stem_layers

BASE_CHANNELS = (64, 32, 16)


def _apply_op(op, channels, name, inputs):
    outputs = inputs
    for layer in OPS[op](channels, name=name).layers:
        outputs = layer(outputs)
    return outputs


def _block(genotype, block, channels, first, previous):
    nodes = {1: first}
    for node in range(2, 6):
        terms = []
        for edge in incoming_edges(block, node):
            op = genotype.op(edge.name)
            if op in ZERO_OPS:
                continue
            source = nodes if edge.source[0] == block else previous
            terms.append(_apply_op(op, channels, edge.name, source[edge.source[1]]))
        nodes[node] = terms[0] if len(terms) == 1 else keras.layers.Add(name=f"B{block}_N{node}")(terms)
    return nodes


def build_generator_from_genotype(genotype, channel_scale=1.0, base_channels=BASE_CHANNELS, name="searched_generator"):
    """The generator a genotype describes: functional ``[z, y] -> images`` in the teacher's input shape.

    Args:
        genotype: a ``Genotype`` (e.g. from ``load_genotype``).
        channel_scale: the channel scale s; block widths are ``round(s * base_channels)``.
        base_channels: block widths at s = 1.
        name: model name.

    Example:
        genotype = load_genotype("runs/search/genotype.json", teacher.input_shape, teacher.num_classes)
        generator = build_generator_from_genotype(genotype, channel_scale=1.0)
        images = generator([tf.random.normal([8, genotype.latent_dim]), tf.zeros([8], tf.int32)], training=True)
    """
    if channel_scale <= 0 or len(base_channels) != NUM_BLOCKS:
        raise UserError(
            f"channel_scale={channel_scale} must be > 0 and base_channels {tuple(base_channels)} must give {NUM_BLOCKS} widths"
        )
    widths = [max(1, round(channels * channel_scale)) for channels in base_channels]
    noise = keras.Input(shape=(genotype.latent_dim,), name="z")
    labels = keras.Input(shape=(), dtype="int32", name="y")
    embedding, projection, reshape, stem_bn = stem_layers(
        genotype.input_shape, genotype.num_classes, genotype.latent_dim, widths[0], projection_name="project"
    )
    x = keras.layers.Multiply(name="condition")([embedding(labels), noise])
    first, previous = stem_bn(reshape(projection(x))), {}
    for block in range(1, NUM_BLOCKS + 1):
        previous = _block(genotype, block, widths[block - 1], first, previous)
        first = previous[5]
    images = first
    for layer in head_layers(genotype.input_shape):
        images = layer(images)
    return keras.Model([noise, labels], images, name=name)
