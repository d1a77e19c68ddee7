"""Gumbel-softmax (both forms of Eq. 7), the temperature schedule, the supernet, and the generator built from a genotype."""

import numpy as np
import pytest

from autorecon_tf.compat import keras, tf
from autorecon_tf.errors import UserError
from autorecon_tf.generators import custom_objects
from autorecon_tf.generators.from_genotype import build_generator_from_genotype
from autorecon_tf.generators.gdfq import build_gdfq_generator
from autorecon_tf.losses.bn_statistics import BatchNormStatistics
from autorecon_tf.losses.reconstruction import reconstruction_loss
from autorecon_tf.search_space import EDGES, PRIMITIVES, Genotype, random_genotype
from autorecon_tf.supernet import GeneratorSupernet, TemperatureSchedule, gumbel_softmax
from autorecon_tf.teachers.loader import load_keras_model

ALPHA = np.array([2.0, 0.5, -1.0, 0.0], "float32")


def _softmax(values):
    exponentials = np.exp(values - values.max())
    return exponentials / exponentials.sum()


@pytest.mark.parametrize("form", ["paper", "log"])
@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_samples_sum_to_one(form, hard):
    alpha = tf.constant(np.tile(ALPHA, (500, 1)))
    samples = gumbel_softmax(alpha, 0.7, form, hard).numpy()
    np.testing.assert_allclose(samples.sum(axis=-1), 1.0, atol=1e-5)
    assert (samples >= -1e-6).all()
    if hard:
        assert set(np.unique(np.round(samples, 5))) <= {0.0, 1.0}


def _hard_frequencies(form, draws=40_000):
    samples = gumbel_softmax(tf.constant(np.tile(ALPHA, (draws, 1))), 1.0, form, hard=True).numpy()
    return samples.mean(axis=0)


def test_hard_samples_of_the_log_form_follow_softmax_alpha():
    np.testing.assert_allclose(_hard_frequencies("log"), _softmax(ALPHA), atol=0.012)


def test_hard_samples_of_the_paper_form_follow_softmax_of_p():
    # Eq. 7 adds the noise to p = softmax(alpha), so argmax(p + g) ~ softmax(p), not p (REFERENCE.md).
    frequencies = _hard_frequencies("paper")
    np.testing.assert_allclose(frequencies, _softmax(_softmax(ALPHA)), atol=0.012)
    assert np.abs(frequencies - _softmax(ALPHA)).max() > 0.2


def test_hard_samples_pass_straight_through_gradients_to_alpha():
    alpha = tf.Variable(ALPHA)
    with tf.GradientTape() as tape:
        sample = gumbel_softmax(alpha, 1.0, "paper", hard=True)
        loss = tf.reduce_sum(sample * tf.constant([1.0, 2.0, 3.0, 4.0]))
    gradient = tape.gradient(loss, alpha).numpy()
    assert np.abs(gradient).max() > 0


def test_temperature_schedules():
    exponential = TemperatureSchedule(5.0, 0.5, decay_steps=100)
    assert float(exponential(0)) == pytest.approx(5.0)
    assert float(exponential(50)) == pytest.approx(np.sqrt(2.5), rel=1e-5)
    assert float(exponential(100)) == pytest.approx(0.5) and float(exponential(1000)) == pytest.approx(0.5)
    linear = TemperatureSchedule(2.0, 1.0, decay_steps=10, kind="linear")
    assert float(linear(5)) == pytest.approx(1.5)
    assert float(TemperatureSchedule(3.0, 1.0, 10, kind="constant")(7)) == pytest.approx(3.0)
    with pytest.raises(UserError, match="unknown"):
        TemperatureSchedule(kind="cosine")
    with pytest.raises(UserError, match="> 0"):
        TemperatureSchedule(0.0, 1.0)


def _supernet(shape=(8, 8, 1), **options):
    return GeneratorSupernet(shape, 4, latent_dim=8, channels=(4, 4, 4), **options).build_variables()


def _noise(batch=6, latent_dim=8, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((batch, latent_dim)).astype("float32"),
        rng.integers(0, num_classes, batch).astype("int32"),
    ]


@pytest.fixture(scope="module")
def supernet():
    """One tiny supernet shared by the tests that only read it or set its alpha (building one takes seconds)."""
    return _supernet(gumbel_form="log")


@pytest.mark.parametrize("shape", [(28, 28, 1), (12, 10, 3)])
def test_supernet_outputs_the_teacher_input_shape(shape):
    supernet = _supernet(shape)
    images = supernet(_noise(), training=True, temperature=1.0)
    assert tuple(images.shape) == (6, *shape)
    # tanh then BatchNorm without affine: zero mean, unit variance per channel in training mode
    np.testing.assert_allclose(images.numpy().mean(axis=(0, 1, 2)), 0.0, atol=1e-4)


def test_alpha_and_weight_variables_are_separate_and_complete(supernet):
    arch = supernet.arch_variables
    assert [tuple(alpha.shape) for alpha in arch] == [(len(PRIMITIVES[edge.kind]),) for edge in EDGES]
    arch_ids = {v.ref() for v in arch}
    weight_ids = {v.ref() for v in supernet.weight_variables}
    assert not arch_ids & weight_ids
    assert arch_ids | weight_ids == {v.ref() for v in supernet.trainable_variables}


def test_gradients_reach_every_alpha_and_every_weight(supernet):
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(tf.square(supernet(_noise(), training=True, temperature=1.0) - 0.3))
    weight_gradients = tape.gradient(loss, supernet.weight_variables)
    arch_gradients = tape.gradient(loss, supernet.arch_variables)
    assert all(gradient is not None for gradient in weight_gradients)
    assert all(np.abs(gradient.numpy()).max() > 0 for gradient in arch_gradients)


def test_hard_mode_picks_one_candidate_per_edge_and_still_trains_alpha(supernet):
    supernet.hard = True
    try:
        with tf.GradientTape() as tape:
            images = supernet(_noise(), training=True, temperature=0.5)
            loss = tf.reduce_mean(tf.square(images - 0.3))
        gradients = tape.gradient(loss, supernet.arch_variables)
        samples = supernet.sample_edge_weights(0.5)
    finally:
        supernet.hard = False
    assert tuple(images.shape) == (6, 8, 8, 1)
    assert all(sorted(np.round(sample.numpy(), 5))[-1] == 1.0 for sample in samples)
    assert all(np.abs(gradient.numpy()).max() > 0 for gradient in gradients)


def test_generator_registry_lists_both_generator_modules():
    objects = custom_objects()
    assert "ClassConditionalAffine" in objects  # GDFQ's; the searched generator needs only built-in layers


def _set_winner(supernet, edge_index, op):
    alpha = np.zeros(len(PRIMITIVES[EDGES[edge_index].kind]), "float32")
    alpha[PRIMITIVES[EDGES[edge_index].kind].index(op)] = 5.0
    supernet.arch_variables[edge_index].assign(alpha)


def test_derive_genotype_takes_argmax_with_none_excluded_on_normal_edges(supernet):
    normal = next(i for i, e in enumerate(EDGES) if e.kind == "normal")
    cross = next(i for i, e in enumerate(EDGES) if e.kind == "cross")
    up = next(i for i, e in enumerate(EDGES) if e.kind == "up")
    _set_winner(supernet, up, "up_bilinear")
    _set_winner(supernet, cross, "none_up")
    alpha = np.array([0.1, 0.2, 0.3, 2.0, 0.0, 0.0, 9.0], "float32")  # "none" is the largest
    supernet.arch_variables[normal].assign(alpha)
    genotype = supernet.derive_genotype({"note": "test"})
    assert genotype.ops[up] == "up_bilinear"
    assert genotype.ops[cross] == "none_up"
    assert genotype.ops[normal] == "dil_conv_3x3"
    assert genotype.metadata["gumbel_form"] == "log" and genotype.metadata["note"] == "test"
    assert genotype.input_shape == (8, 8, 1) and genotype.latent_dim == 8
    assert len(genotype.metadata["probabilities"][EDGES[normal].name]) == 7


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
    noise, labels = _noise(8)
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
    assert custom_objects() is not None
    np.testing.assert_allclose(
        loaded([noise, labels], training=False), generator([noise, labels], training=False), atol=1e-5
    )
