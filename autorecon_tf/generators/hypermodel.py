"""keras-tuner's HyperModel over the generator search space: one ``Choice`` per genotype edge.

keras-tuner splits a search into roles: the ``HyperModel`` is the space, the ``Oracle`` the
algorithm, the ``Tuner`` the runner. :class:`GenotypeHyperModel` is the space, the same one the
Gumbel supernet searches: one hyperparameter per edge of ``macro.EDGES``, named after the edge,
whose values are the edge's ops in ``PRIMITIVES`` order. ``build(hp)`` turns the sampled values
into a :class:`~autorecon_tf.search_space.genotype.Genotype` and builds that generator with the
genotype builder of stage 2 (:func:`~autorecon_tf.generators.from_genotype.build_generator_from_genotype`).

Which genotypes: those the supernet's ``derive_genotype()`` can hand off. It never picks "none"
on a normal-edge (a normal-edge is the only path into N4 and N5 inside a block, as in DARTS), so
neither does this space; on cross-edges "none_up" (drop the skip) stays a choice. Every sampled
genotype is therefore valid (each node keeps an incoming edge), and a tuner never spends a trial
on an architecture the Gumbel search could not have returned.

Why here: the HyperModel builds generators, so it lives in ``generators/``, which may import
``search_space/`` (the space as data) but not ``supernet/``; ``search_space/`` itself may import
no generator builder (BUILD.md, "Layout"). The tuner that trains and scores the generators is a
job, in :mod:`autorecon_tf.pipelines.tuner_search`.

keras-tuner imports Keras 3 (the ``keras`` package) for its own bookkeeping whatever
``TF_USE_LEGACY_KERAS`` says; the models built here are this project's Keras 2 (tf_keras) models,
and nothing of keras-tuner's Keras-3 model handling (``fit``, saving) is used on them.
"""

import keras_tuner

from autorecon_tf.generators.from_genotype import build_generator_from_genotype
from autorecon_tf.search_space.genotype import Genotype
from autorecon_tf.search_space.macro import EDGES
from autorecon_tf.search_space.ops import PRIMITIVES, ZERO_OPS


def edge_choices(edge):
    """The ops an edge may take in a handed-off genotype: all of ``PRIMITIVES``, but "none" on normal-edges."""
    ops = PRIMITIVES[edge.kind]
    return tuple(op for op in ops if op not in ZERO_OPS) if edge.kind == "normal" else ops


class GenotypeHyperModel(keras_tuner.HyperModel):
    """The genotype space as keras-tuner hyperparameters; ``build(hp)`` is the generator they describe.

    Args:
        input_shape: the teacher's (height, width, channels).
        num_classes: the teacher's classes (the generator's labels).
        latent_dim: size of z.
        base_channels: block widths of the built generators (a search uses its narrow search widths).

    Example:
        hypermodel = GenotypeHyperModel((28, 28, 1), 10, latent_dim=100, base_channels=(32, 16, 8))
        hp = keras_tuner.HyperParameters()
        generator = hypermodel.build(hp)  # every edge at its first choice
        genotype = hypermodel.genotype(hp)
    """

    def __init__(self, input_shape, num_classes, latent_dim=100, base_channels=(64, 32, 16), **kwargs):
        super().__init__(**kwargs)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes, self.latent_dim = int(num_classes), int(latent_dim)
        self.base_channels = tuple(int(c) for c in base_channels)

    def genotype(self, hp, metadata=None):
        """The Genotype of ``hp``'s values (declaring the edges in ``hp`` if it has not seen them yet)."""
        ops = tuple(hp.Choice(edge.name, list(edge_choices(edge))) for edge in EDGES)
        return Genotype(ops, self.input_shape, self.num_classes, self.latent_dim, dict(metadata or {}))

    def build(self, hp):
        return build_generator_from_genotype(self.genotype(hp), base_channels=self.base_channels)
