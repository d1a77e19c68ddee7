"""The search space as data: candidate ops, the macro-architecture, genotype JSON and its errors, the plot."""

import json

import numpy as np
import pytest
from layer_test import run_layer_test

from autorecon_tf.compat import tf
from autorecon_tf.errors import UserError
from autorecon_tf.search_space import EDGES, OPS, PRIMITIVES, Genotype, Zero, load_genotype, random_genotype
from autorecon_tf.search_space.genotype import GENOTYPE_VERSION
from autorecon_tf.search_space.macro import incoming_edges
from autorecon_tf.search_space.ops import upsample_op
from autorecon_tf.search_space.plots import plot_alpha_history, plot_genotype
from autorecon_tf.search_space.stem_head import crop_amounts, head_layers, stem_layers

PNG_MAGIC = b"\x89PNG"


def test_candidate_lists_follow_table_1():
    assert PRIMITIVES["normal"] == (
        "conv_1x1",
        "conv_3x3",
        "conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
        "identity",
        "none",
    )
    assert PRIMITIVES["up"] == ("up_nearest", "up_bilinear")
    assert PRIMITIVES["cross"] == ("up_nearest", "up_bilinear", "none_up")
    assert set(OPS) == {op for ops in PRIMITIVES.values() for op in ops}


def test_macro_architecture_has_6_up_15_normal_12_cross_edges():
    kinds = [edge.kind for edge in EDGES]
    assert (kinds.count("up"), kinds.count("normal"), kinds.count("cross")) == (6, 15, 12)
    assert len({edge.name for edge in EDGES}) == 33
    # N4 sums normal-edges from N2, N3 (+ cross-edges from the previous block's N2, N3, N4).
    assert {edge.source for edge in incoming_edges(2, 4)} == {(2, 2), (2, 3), (1, 2), (1, 3), (1, 4)}
    assert {edge.source for edge in incoming_edges(1, 5)} == {(1, 2), (1, 3), (1, 4)}


@pytest.mark.parametrize("kind, op", [(kind, op) for kind, ops in PRIMITIVES.items() for op in ops])
def test_every_candidate_op_builds_with_the_expected_output_shape(kind, op):
    if kind == "normal":
        inputs, expected = np.ones((2, 6, 6, 4), "float32"), (2, 6, 6, 4)
    else:  # up- and cross-edges double the resolution and change the width
        inputs, expected = np.ones((2, 3, 5, 6), "float32"), (2, 6, 10, 3)
    layer = OPS[op](expected[-1], name=f"test_{op}")
    assert tuple(layer(inputs, training=True).shape) == expected
    assert tuple(layer.compute_output_shape((None, *inputs.shape[1:]))) == (None, *expected[1:])


def test_nearest_up_edges_upsample_last_and_compute_the_same_function_gradient_and_statistics():
    # Upsampling last runs the BatchNorm, activation and 1x1 conv on a quarter of the pixels (the generator
    # profile): exact for nearest, whose 4 copies of a pixel leave the batch mean and variance unchanged.
    assert type(OPS["up_nearest"](3, name="default").layers[-1]).__name__ == "UpSampling2D"
    inputs = tf.random.normal([4, 3, 5, 6], seed=1) * 3.0 + 1.0
    first, last = upsample_op("nearest")(3, name="first"), upsample_op("nearest", upsample_last=True)(3, name="last")
    first(inputs), last(inputs)
    last.set_weights(first.get_weights())
    results = []
    for op in (first, last):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = op(inputs, training=True)
            loss = tf.reduce_sum(tf.sin(outputs))
        results.append((outputs, tape.gradient(loss, [inputs, *op.trainable_variables]), op.get_weights()))
    (out_a, grads_a, weights_a), (out_b, grads_b, weights_b) = results
    np.testing.assert_allclose(out_a, out_b, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    (mean_a, variance_a), (mean_b, variance_b) = weights_a[2:4], weights_b[2:4]  # BN: gamma, beta, mean, variance
    np.testing.assert_allclose(mean_a, mean_b, rtol=1e-5, atol=1e-6)
    # The moving variance takes the unbiased n / (n - 1) estimate, over 60 pixels instead of 240 here; at a
    # batch of 128 on 14x14 the two differ by 4e-5 relative per update. The outputs use the biased one.
    bessel = (60 / 59) / (240 / 239)
    np.testing.assert_allclose((variance_b - 0.99) / 0.01, (variance_a - 0.99) / 0.01 * bessel, rtol=1e-4)
    with pytest.raises(ValueError, match="only for nearest"):
        upsample_op("bilinear", upsample_last=True)


def test_zero_layer_is_a_serializable_layer_of_zeros():
    clone = Zero.from_config(Zero(3, upsample=2, name="zero").get_config())
    assert (clone.channels, clone.upsample) == (3, 2)
    outputs = run_layer_test(Zero, {"channels": 3, "upsample": 2, "name": "zero"}, input_shape=(1, 2, 2, 5), fit=False)
    np.testing.assert_array_equal(outputs, np.zeros((1, 4, 4, 3)))


def test_stem_and_head_map_latents_to_images_of_any_teacher_shape():
    assert crop_amounts(32, 28) == (2, 2) and crop_amounts(16, 13) == (1, 2)
    embedding, projection, reshape, batchnorm = stem_layers((12, 10, 3), 4, 8, 5, projection_name="project")
    labels, noise = np.array([0, 3]), np.ones((2, 8), "float32")
    features = batchnorm(reshape(projection(embedding(labels) * noise)), training=True)
    assert tuple(features.shape) == (2, 2, 2, 5)  # ceil(12 / 8) x ceil(10 / 8)
    images = tf.image.resize(features, (16, 16), "nearest")  # where the three blocks bring it
    for layer in head_layers((12, 10, 3)):
        images = layer(images)
    assert tuple(images.shape) == (2, 12, 10, 3)
    assert projection.name == "project"


def test_genotype_json_round_trips(tmp_path):
    genotype = random_genotype((28, 28, 1), 10, latent_dim=16, seed=3)
    genotype = Genotype(genotype.ops, genotype.input_shape, 10, 16, {"gumbel_form": "paper", "steps": 7})
    path = tmp_path / "genotype.json"
    genotype.save(path)
    loaded = load_genotype(path, (28, 28, 1), 10)
    assert loaded == genotype and hash(loaded) == hash(genotype)
    assert loaded.metadata == {"gumbel_form": "paper", "steps": 7}
    payload = json.loads(path.read_text())
    assert payload["version"] == GENOTYPE_VERSION and payload["input_shape"] == [28, 28, 1]
    assert payload["edges"][EDGES[0].name] == genotype.ops[0]


def _write(tmp_path, payload):
    path = tmp_path / "genotype.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def _assert_one_line(error, *fragments):
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_corrupt_genotype_file_is_a_one_line_error(tmp_path):
    path = _write(tmp_path, '{"format": "autorecon_tf.genotype", "vers')
    with pytest.raises(UserError) as error:
        load_genotype(path)
    _assert_one_line(error, str(path), "not valid JSON", "tools/search.py")


def test_genotype_of_another_version_is_a_one_line_error(tmp_path):
    payload = random_genotype((8, 8, 1), 4).to_dict()
    payload["version"] = GENOTYPE_VERSION + 1
    with pytest.raises(UserError) as error:
        load_genotype(_write(tmp_path, payload))
    _assert_one_line(error, f"version {GENOTYPE_VERSION + 1}", f"reads version {GENOTYPE_VERSION}")


def test_genotype_for_another_teacher_shape_is_a_one_line_error(tmp_path):
    path = _write(tmp_path, random_genotype((28, 28, 1), 10).to_dict())
    with pytest.raises(UserError) as error:
        load_genotype(path, input_shape=(32, 32, 1), num_classes=10)
    _assert_one_line(error, "searched for input (28, 28, 1)", "(32, 32, 1)")
    with pytest.raises(UserError, match="10 classes"):
        load_genotype(path, input_shape=(28, 28, 1), num_classes=100)


@pytest.mark.parametrize(
    "mangle, fragment",
    [
        (lambda p: p["edges"].update({EDGES[0].name: "conv_3x3"}), "not one of"),
        (lambda p: p["edges"].pop(EDGES[5].name), "misses edges"),
        (lambda p: p.pop("format"), "not an autorecon_tf genotype"),
        (lambda p: p.update({"input_shape": "big"}), "input_shape"),
    ],
)
def test_mangled_genotype_files_are_named(tmp_path, mangle, fragment):
    payload = random_genotype((8, 8, 1), 4).to_dict()
    mangle(payload)
    with pytest.raises(UserError) as error:
        load_genotype(_write(tmp_path, payload))
    _assert_one_line(error, fragment)


def test_missing_genotype_file_is_named(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_genotype(tmp_path / "nope.json")


def test_a_node_without_inputs_is_rejected():
    ops = list(random_genotype((8, 8, 1), 4).ops)
    for edge in incoming_edges(2, 4):
        ops[EDGES.index(edge)] = "none" if edge.kind == "normal" else "none_up"
    with pytest.raises(UserError, match="B2-N4 has only 'none'"):
        Genotype(tuple(ops), (8, 8, 1), 4, 8)


def test_plots_write_pngs(tmp_path):
    genotype = random_genotype((28, 28, 1), 10, seed=1)
    plot_genotype(genotype, tmp_path / "genotype.png")
    rng = np.random.default_rng(0)
    history = [
        {
            "epoch": epoch,
            "entropy": 1.5 / epoch,
            "probabilities": {edge.name: list(rng.dirichlet(np.ones(len(PRIMITIVES[edge.kind])))) for edge in EDGES},
        }
        for epoch in (1, 2, 3)
    ]
    plot_alpha_history(history, tmp_path / "alphas.png")
    for name in ("genotype.png", "alphas.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
