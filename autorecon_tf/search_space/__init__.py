"""The generator search space as data: candidate ops, the macro-architecture, genotypes."""

from autorecon_tf.search_space.genotype import GENOTYPE_VERSION, Genotype, load_genotype, random_genotype
from autorecon_tf.search_space.macro import EDGE_NAMES, EDGES, Edge
from autorecon_tf.search_space.ops import OPS, PRIMITIVES, ZERO_OPS, Zero

__all__ = [
    "EDGES",
    "EDGE_NAMES",
    "Edge",
    "GENOTYPE_VERSION",
    "Genotype",
    "OPS",
    "PRIMITIVES",
    "ZERO_OPS",
    "Zero",
    "load_genotype",
    "random_genotype",
]
