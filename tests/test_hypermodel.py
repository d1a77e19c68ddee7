"""GenotypeHyperModel: keras-tuner's hyperparameters are the genotype's edges; every sample builds a generator."""

import keras_tuner
import numpy as np

from autorecon_tf.generators.hypermodel import GenotypeHyperModel, edge_choices
from autorecon_tf.search_space import EDGE_NAMES, EDGES, PRIMITIVES


def _hypermodel():
    return GenotypeHyperModel((8, 8, 1), 4, latent_dim=8, base_channels=(4, 4, 4))


def test_the_space_is_the_supernets_edges_without_none_on_normal_edges():
    hp = keras_tuner.HyperParameters()
    _hypermodel().genotype(hp)
    assert [parameter.name for parameter in hp.space] == list(EDGE_NAMES)
    for edge, parameter in zip(EDGES, hp.space):
        assert tuple(parameter.values) == edge_choices(edge)
        expected = [op for op in PRIMITIVES[edge.kind] if edge.kind != "normal" or op != "none"]
        assert list(parameter.values) == expected


def test_every_genotype_the_oracle_samples_builds_a_generator_of_the_teacher_shape():
    hypermodel, hp = _hypermodel(), keras_tuner.HyperParameters()
    hypermodel.genotype(hp)
    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("loss", "min"), seed=1)
    oracle.update_space(hp)
    for trial in range(4):
        hp.values = oracle.populate_space(str(trial))["values"]
        genotype = hypermodel.genotype(hp, {"source": "test"})
        assert genotype.ops == tuple(hp.values[name] for name in EDGE_NAMES)
        generator = hypermodel.build(hp)
        images = generator([np.zeros((2, 8), "float32"), np.array([0, 3], "int32")], training=True)
        assert tuple(images.shape) == (2, 8, 8, 1)
