"""The generator built from a genotype: a flat functional model of the teacher's shape, its widths, training and saving."""

import os

import numpy as np
import pytest

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.generators.from_genotype import build_generator_from_genotype
from autorecon_tf.generators.gdfq import build_gdfq_generator
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.reconstruction import reconstruction_loss
from autorecon_tf.search_space import EDGES, Genotype, load_genotype, random_genotype
from autorecon_tf.teachers.loader import load_keras_model

from conftest import REPO

ARCHIVED_GENOTYPE = os.path.join(
    REPO, "benchmarks", "results", "reproduce_standard", "search_resnet20", "genotype.json"
)


def _latent(batch, latent_dim=8, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, latent_dim)).astype("float32"), rng.integers(0, num_classes, batch).astype(
        "int32"
    )


def _tiny_generator(shape=(8, 8, 1), seed=0, scale=0.125):
    genotype = random_genotype(shape, 4, latent_dim=8, seed=seed)
    return genotype, build_generator_from_genotype(genotype, channel_scale=scale)


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_generator_from_a_random_genotype_is_functional_with_the_teacher_shape(shape):
    genotype, generator = _tiny_generator(shape)
    assert type(generator).__name__ == "Functional" and generator._is_graph_network
    assert [tuple(t.shape) for t in generator.inputs] == [(None, 8), (None,)]
    assert tuple(generator.outputs[0].shape) == (None, *shape)
    assert not any(isinstance(layer, keras.Model) for layer in generator.layers)  # flat: no nested models
    dropped = [edge.name for edge, op in genotype.edges() if op in ("none", "none_up")]
    names = {layer.name for layer in generator.layers}
    assert not any(name.startswith(edge) for edge in dropped for name in names)


def test_channel_scale_multiplies_the_block_widths():
    genotype = random_genotype((8, 8, 1), 4, latent_dim=8, seed=1)
    small = build_generator_from_genotype(genotype, channel_scale=0.25)
    large = build_generator_from_genotype(genotype, channel_scale=0.5)
    assert small.get_layer("project").units == 16  # 1x1 initial map (8 / 8) x 64 * 0.25
    assert large.get_layer("project").units == 32
    assert large.count_params() > 2 * small.count_params()
    with pytest.raises(UserError, match="channel_scale"):
        build_generator_from_genotype(genotype, channel_scale=0)


def test_heaviest_genotype_has_about_gdfqs_parameters_at_unit_scale():
    """The paper's discovered generator 'needs almost the same parameters' as GDFQ's (Sec. 4.2).

    Only at s = 1: the convolutions grow as s^2, GDFQ's dense projection as s.
    """
    heaviest = {"normal": "conv_5x5", "up": "up_nearest", "cross": "up_nearest"}
    genotype = Genotype(tuple(heaviest[edge.kind] for edge in EDGES), (28, 28, 1), 10, 100)
    searched = build_generator_from_genotype(genotype).count_params()
    gdfq = build_gdfq_generator((28, 28, 1), 10).count_params()
    assert 0.85 < searched / gdfq < 1.15


def test_generator_from_genotype_trains_one_step_and_round_trips(tmp_path, tiny_teacher):
    _, generator = _tiny_generator()
    stats = BatchNormStatistics(tiny_teacher)
    tiny_teacher.trainable = False
    noise, labels = _latent(8)
    optimizer = keras.optimizers.Adam(1e-2)
    before = [w.numpy().copy() for w in generator.trainable_weights]
    with tf.GradientTape() as tape:
        total, ce, bns, _ = reconstruction_loss(stats, generator([noise, labels], training=True), labels, 0.1)
    optimizer.apply_gradients(zip(tape.gradient(total, generator.trainable_weights), generator.trainable_weights))
    assert np.isfinite(total.numpy()) and float(total) == pytest.approx(float(ce) + 0.1 * float(bns), rel=1e-5)
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, generator.trainable_weights))
    path = str(tmp_path / "generator.keras")
    generator.save(path)
    loaded = load_keras_model(path, "generator")
    for saved, trained in zip(loaded.weights, generator.weights, strict=True):  # the step's weights and BN statistics
        np.testing.assert_array_equal(saved.numpy(), trained.numpy(), err_msg=trained.name)
    np.testing.assert_allclose(
        loaded([noise, labels], training=False), generator([noise, labels], training=False), atol=1e-5
    )


def test_the_archived_genotype_builds_the_generator_of_its_teacher():
    genotype = load_genotype(ARCHIVED_GENOTYPE, (28, 28, 1), 10)
    generator = build_generator_from_genotype(genotype, channel_scale=0.125)
    noise, labels = _latent(2, genotype.latent_dim, genotype.num_classes)
    assert tuple(generator([noise, labels], training=False).shape) == (2, 28, 28, 1)
