"""The genotype: the discrete generator architecture a search hands to compression.

A :class:`Genotype` is plain data: one op name per edge of the macro-architecture
(:mod:`autorecon_tf.search_space.macro`), plus what it was searched for (teacher
input shape, number of classes, latent size) and free-form metadata (the Gumbel
form used, search widths, steps, final alpha probabilities...). It is saved as
versioned JSON, the only hand-off from search (stage 1) to compression (stage 2):

    {"format": "autorecon_tf.genotype", "version": 1,
     "input_shape": [32, 32, 1], "num_classes": 10, "latent_dim": 100,
     "edges": {"B1_up_B1N1_N2": "up_bilinear", ...}, "metadata": {...}}

Loading reports a corrupt file, another format or version, an unknown edge or op,
and a genotype made for another teacher shape as one-line :class:`UserError` s.
"""

import dataclasses
import json
import os

import numpy as np

from autorecon_tf.errors import UserError
from autorecon_tf.search_space.macro import EDGE_NAMES, EDGES, EDGES_BY_NAME, incoming_edges
from autorecon_tf.search_space.ops import PRIMITIVES, ZERO_OPS
from autorecon_tf.utils.atomic import write_json

GENOTYPE_FORMAT = "autorecon_tf.genotype"
GENOTYPE_VERSION = 1
_FIX = "run tools/search.py again to write a fresh genotype.json"


@dataclasses.dataclass(frozen=True)
class Genotype:
    """One op per edge (in ``EDGES`` order) plus the teacher shape it was searched for.

    Args:
        ops: tuple of op names, one per edge of ``macro.EDGES``, in that order.
        input_shape: (height, width, channels) of the teacher input = generated images.
        num_classes: number of teacher classes (labels the generator is conditioned on).
        latent_dim: size of the noise vector z.
        metadata: free-form JSON-able facts about the search (not part of equality or hash).

    Example:
        genotype = Genotype.from_dict(json.load(open("genotype.json")))
        genotype.op("B1_up_B1N1_N2")  # -> "up_bilinear"
    """

    ops: tuple
    input_shape: tuple
    num_classes: int
    latent_dim: int
    metadata: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        self.validate()

    def validate(self, source="genotype"):
        if len(self.ops) != len(EDGES):
            raise UserError(f"{source} has {len(self.ops)} edges, the search space has {len(EDGES)}: {_FIX}")
        for edge, op in zip(EDGES, self.ops):
            if op not in PRIMITIVES[edge.kind]:
                raise UserError(f"{source}: edge {edge.name} has op {op!r}, not one of {PRIMITIVES[edge.kind]}: {_FIX}")
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise UserError(f"{source}: input_shape {self.input_shape} is not (height, width, channels): {_FIX}")
        if self.num_classes < 2 or self.latent_dim < 1:
            raise UserError(
                f"{source}: num_classes={self.num_classes}, latent_dim={self.latent_dim} are invalid: {_FIX}"
            )
        for block, node in {edge.target for edge in EDGES}:
            if all(self.op(edge.name) in ZERO_OPS for edge in incoming_edges(block, node)):
                raise UserError(f"{source}: node B{block}-N{node} has only 'none' incoming edges: {_FIX}")

    def op(self, edge_name):
        return self.ops[EDGE_NAMES.index(edge_name)]

    def edges(self):
        """(Edge, op) pairs in ``EDGES`` order."""
        return list(zip(EDGES, self.ops))

    def to_dict(self):
        return {
            "format": GENOTYPE_FORMAT,
            "version": GENOTYPE_VERSION,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "latent_dim": self.latent_dim,
            "edges": dict(zip(EDGE_NAMES, self.ops)),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, payload, source="genotype"):
        if not isinstance(payload, dict) or payload.get("format") != GENOTYPE_FORMAT:
            raise UserError(f"{source} is not an autorecon_tf genotype (no format {GENOTYPE_FORMAT!r}): {_FIX}")
        if payload.get("version") != GENOTYPE_VERSION:
            raise UserError(
                f"{source} is genotype version {payload.get('version')!r}, this code reads version {GENOTYPE_VERSION}: {_FIX}"
            )
        edges = payload.get("edges")
        if not isinstance(edges, dict):
            raise UserError(f"{source} has no 'edges' mapping: {_FIX}")
        unknown = sorted(set(edges) - set(EDGES_BY_NAME))
        missing = [name for name in EDGE_NAMES if name not in edges]
        if unknown or missing:
            raise UserError(f"{source} has unknown edges {unknown[:3]} / misses edges {missing[:3]}: {_FIX}")
        try:
            facts = (tuple(payload["input_shape"]), int(payload["num_classes"]), int(payload["latent_dim"]))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(
                f"{source} lacks or mangles input_shape/num_classes/latent_dim ({error}): {_FIX}"
            ) from error
        try:
            return cls(tuple(edges[name] for name in EDGE_NAMES), *facts, dict(payload.get("metadata") or {}))
        except UserError as error:  # raised by validate(), which names "genotype"
            raise UserError(str(error).replace("genotype", source, 1)) from error
        except (TypeError, ValueError) as error:
            raise UserError(f"{source} has a malformed input_shape ({error}): {_FIX}") from error

    def save(self, path):
        """Writes the genotype JSON atomically."""
        write_json(path, self.to_dict())

    def check_teacher(self, input_shape, num_classes, source="genotype"):
        """Raises a UserError unless the genotype was searched for this teacher shape."""
        if tuple(input_shape) != self.input_shape or int(num_classes) != self.num_classes:
            raise UserError(
                f"{source} was searched for input {self.input_shape} with {self.num_classes} classes, but the teacher "
                f"takes {tuple(input_shape)} with {int(num_classes)} classes: search a genotype for this teacher"
            )


def load_genotype(path, input_shape=None, num_classes=None):
    """Reads a genotype JSON; with ``input_shape``/``num_classes`` also checks it fits that teacher."""
    path = os.fspath(path)
    source = f"genotype file {path!r}"
    if not os.path.isfile(path):
        raise UserError(f"{source} does not exist: give the genotype.json written by tools/search.py")
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{source} is not valid JSON ({error}): {_FIX}") from error
    genotype = Genotype.from_dict(payload, source)
    if input_shape is not None or num_classes is not None:
        genotype.check_teacher(
            input_shape if input_shape is not None else genotype.input_shape,
            num_classes if num_classes is not None else genotype.num_classes,
            source,
        )
    return genotype


def random_genotype(input_shape, num_classes, latent_dim=100, seed=0):
    """A uniformly random valid genotype (for tests and random-search baselines)."""
    rng = np.random.default_rng(seed)
    while True:
        ops = tuple(str(rng.choice(PRIMITIVES[edge.kind])) for edge in EDGES)
        try:
            return Genotype(ops, input_shape, num_classes, latent_dim, {"source": f"random seed {seed}"})
        except UserError:
            continue  # a node lost all its inputs; draw again
