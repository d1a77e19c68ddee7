"""Gumbel-softmax (both forms of Eq. 7), the temperature schedule, the mixed edge and the supernet."""

import numpy as np
import pytest
from layer_test import run_layer_test

from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError
from autorecon_tf.search_space import EDGES, PRIMITIVES
from autorecon_tf.supernet import GeneratorSupernet, MixedOp, TemperatureSchedule, gumbel_softmax

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


@pytest.mark.parametrize("kind, channels, affine", [("normal", 2, False), ("cross", 3, True)])
def test_mixed_op_is_a_serializable_layer(kind, channels, affine):
    # The supernet is checkpointed, never saved whole; its edges still round-trip like every layer.
    edge_weights = tf.constant(np.linspace(0.1, 1.0, len(PRIMITIVES[kind])), tf.float32)
    init = {"kind": kind, "channels": channels, "affine": affine, "name": f"{kind}_edge"}
    outputs = run_layer_test(MixedOp, init, input_shape=(2, 4, 4, 2), call_kwargs={"weights": edge_weights})
    scale = 1 if kind == "normal" else 2
    assert tuple(outputs.shape) == (2, 4 * scale, 4 * scale, channels)


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
