"""The stochastic supernet M_s over the generator search space (paper Sec. 3.2).

The stem (z * Embedding(y) -> Dense -> initial map -> BN) and the head (BN ->
LeakyReLU -> conv -> crop -> tanh -> BN without affine) are GDFQ's and fixed:
:mod:`autorecon_tf.search_space.stem_head` builds them for the supernet and the
generator builder alike. Between them, three blocks of five nodes each double
the resolution, so the last map is 8x the initial one; block b has
``channels[b-1]`` channels.

Every edge mixes its candidates with one Gumbel-softmax sample m (Eq. 7) per
forward pass, shared by the batch; :mod:`autorecon_tf.supernet.gumbel` gives the
two forms. The architecture parameters alpha are separate variables
(``arch_variables``), so the trainer can give them their own optimizer.

``derive_genotype()`` takes argmax(alpha) per edge. On normal-edges "none" is
excluded from the argmax, as in DARTS: a normal-edge is the only path into N4
and N5 inside a block, and "none" there means the block computes nothing new.
On cross-edges "none" is a real choice (drop the skip connection), so it stays.
"""

import numpy as np

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.search_space.genotype import Genotype
from autorecon_tf.search_space.macro import EDGES, NUM_BLOCKS, incoming_edges
from autorecon_tf.search_space.ops import PRIMITIVES, ZERO_OPS
from autorecon_tf.search_space.stem_head import head_layers, stem_layers
from autorecon_tf.supernet.gumbel import GUMBEL_FORMS, entropy, gumbel_softmax
from autorecon_tf.supernet.mixed_op import MixedOp


class GeneratorSupernet(keras.Model):
    """Over-parameterised generator G(z, y) whose 33 edges mix all their candidate ops.

    Args:
        image_shape: (height, width, channels) of the teacher input.
        num_classes: number of class labels.
        latent_dim: size of z.
        channels: widths of the three blocks during the search.
        gumbel_form: "paper" (Eq. 7, noise on softmax(alpha)) or "log" (noise on log softmax(alpha)).
        hard: one-hot samples with straight-through gradients.

    Example:
        supernet = GeneratorSupernet((32, 32, 1), 10)
        images = supernet([z, y], training=True, temperature=1.0)
        genotype = supernet.derive_genotype()
    """

    def __init__(
        self, image_shape, num_classes, latent_dim=100, channels=(64, 32, 16), gumbel_form="paper", hard=False, **kwargs
    ):
        super().__init__(**kwargs)
        if gumbel_form not in GUMBEL_FORMS:
            raise UserError(f"gumbel_form {gumbel_form!r} is unknown; choose one of {GUMBEL_FORMS}")
        if len(channels) != NUM_BLOCKS or min(channels) < 1:
            raise UserError(f"channels {tuple(channels)} must give {NUM_BLOCKS} positive block widths")
        self.image_shape = tuple(int(d) for d in image_shape)
        self.num_classes, self.latent_dim = int(num_classes), int(latent_dim)
        self.channels = tuple(int(c) for c in channels)
        self.gumbel_form, self.hard = gumbel_form, bool(hard)
        self.embedding, self.dense, self.reshape, self.stem_bn = stem_layers(
            self.image_shape, self.num_classes, self.latent_dim, self.channels[0], projection_name="dense"
        )
        self.edges = [MixedOp(edge.kind, self.channels[edge.target[0] - 1], name=edge.name) for edge in EDGES]
        self.head = head_layers(self.image_shape)
        self.alphas = [
            self.add_weight(
                name=f"alpha_{edge.name}",
                shape=(len(PRIMITIVES[edge.kind]),),
                trainable=True,
                initializer=keras.initializers.RandomNormal(stddev=1e-3),
            )
            for edge in EDGES
        ]

    def build_variables(self):
        """Creates every variable with one inference call; gradient tapes must see them before the first step."""
        if not self.built:
            self([tf.zeros([2, self.latent_dim]), tf.zeros([2], tf.int32)], training=False)
        return self

    @property
    def arch_variables(self):
        return list(self.alphas)

    @property
    def weight_variables(self):
        arch = {variable.ref() for variable in self.alphas}
        return [variable for variable in self.trainable_variables if variable.ref() not in arch]

    def sample_edge_weights(self, temperature, seed=None):
        """One Gumbel-softmax sample m per edge (Eq. 7); edge i draws with ``fold_in(seed, i)`` if seeded."""
        seeds = [
            None if seed is None else tf.random.experimental.stateless_fold_in(seed, i) for i in range(len(self.alphas))
        ]
        return [
            gumbel_softmax(alpha, temperature, self.gumbel_form, self.hard, edge_seed)
            for alpha, edge_seed in zip(self.alphas, seeds)
        ]

    def call(self, inputs, training=None, temperature=1.0, seed=None):
        noise, labels = inputs
        features = self.embedding(labels) * noise
        features = self.stem_bn(self.reshape(self.dense(features)), training=training)
        edge_weights = self.sample_edge_weights(temperature, seed)
        previous, first = {}, features
        for block in range(1, NUM_BLOCKS + 1):
            nodes = {1: first}
            for node in range(2, 6):
                terms = []
                for edge in incoming_edges(block, node):
                    index = EDGES.index(edge)
                    source = nodes if edge.source[0] == block else previous
                    terms.append(self.edges[index](source[edge.source[1]], edge_weights[index], training=training))
                nodes[node] = tf.add_n(terms)
            previous, first = nodes, nodes[5]
        images = first
        for layer in self.head:
            images = (
                layer(images, training=training)
                if isinstance(layer, keras.layers.BatchNormalization)
                else layer(images)
            )
        return images

    def probabilities(self):
        """softmax(alpha) per edge, as a list of numpy arrays in ``EDGES`` order."""
        return [tf.nn.softmax(alpha).numpy() for alpha in self.alphas]

    def mean_entropy(self):
        """Mean over edges of the entropy of softmax(alpha) (a scalar tensor)."""
        return tf.add_n([entropy(alpha) for alpha in self.alphas]) / float(len(self.alphas))

    def derive_genotype(self, metadata=None):
        """argmax(alpha) per edge ("none" excluded on normal-edges, see the module docstring)."""
        ops = []
        for edge, probabilities in zip(EDGES, self.probabilities()):
            names = PRIMITIVES[edge.kind]
            scores = np.array(probabilities, dtype=np.float64)
            if edge.kind == "normal":
                scores[[index for index, name in enumerate(names) if name in ZERO_OPS]] = -np.inf
            ops.append(names[int(np.argmax(scores))])
        facts = {
            "gumbel_form": self.gumbel_form,
            "hard": self.hard,
            "search_channels": list(self.channels),
            "probabilities": {
                edge.name: [round(float(p), 6) for p in probs] for edge, probs in zip(EDGES, self.probabilities())
            },
            **(metadata or {}),
        }
        return Genotype(tuple(ops), self.image_shape, self.num_classes, self.latent_dim, facts)

    def get_config(self):
        return {
            "image_shape": self.image_shape,
            "num_classes": self.num_classes,
            "latent_dim": self.latent_dim,
            "channels": self.channels,
            "gumbel_form": self.gumbel_form,
            "hard": self.hard,
        }
