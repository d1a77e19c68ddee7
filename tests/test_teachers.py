import numpy as np
import pytest

from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError
from autorecon_tf.teachers.loader import find_batchnorm_layers, validate_teacher
from autorecon_tf.teachers.registry import TEACHERS, build_teacher

_SMALL = {
    "resnet20": {"width_multiplier": 0.25},
    "resnet18": {"width_multiplier": 0.125},
    "mobilenet_v2": {"alpha": 0.35},
}


@pytest.mark.parametrize("name", sorted(TEACHERS))
def test_zoo_teacher_is_a_functional_classifier_with_batchnorm(name):
    model = build_teacher(name, (32, 32, 1), 7, **_SMALL[name])
    assert model._is_graph_network  # functional: TFMOT can quantize it
    assert model(np.zeros((2, 32, 32, 1), np.float32)).shape == (2, 7)
    input_shape, classes, batchnorm = validate_teacher(model)
    assert input_shape == (32, 32, 1) and classes == 7 and batchnorm
    assert not any(isinstance(layer, keras.Model) for layer in model.layers), "the zoo builds flat graphs"


def test_resnet20_has_the_published_shape():
    model = build_teacher("resnet20", (32, 32, 3), 10)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and "proj" not in layer.name]
    assert len(convs) + 1 == 20  # 19 convolutions + the dense layer
    assert 0.26e6 < model.count_params() < 0.28e6  # 0.27M parameters, as in He et al. 2016


def test_mobilenet_v2_upsamples_small_inputs():
    model = build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.35, input_upsample=2)
    assert model.get_layer("input_upsample").output.shape[1:3] == (56, 56)


def test_mobilenet_v2_batchnorm_momentum_is_set_and_saved(tmp_path):
    model = build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.35, input_upsample=2, bn_momentum=0.8)
    path = str(tmp_path / "m.keras")
    model.save(path)
    for candidate in (model, keras.models.load_model(path)):
        momenta = {layer.momentum for layer in candidate.layers if isinstance(layer, keras.layers.BatchNormalization)}
        assert momenta == {0.8}
    layer = model.get_layer("bn_Conv1")
    before = layer.moving_mean.numpy().copy()
    batch = np.random.default_rng(0).normal(3.0, 1.0, (4, 28, 28, 1)).astype(np.float32)
    features = keras.Model(model.input, layer.input)(batch).numpy()  # Conv1's output: no BatchNorm upstream
    model(batch, training=True)
    # one training-mode call moves the moving mean (1 - momentum) of the way to the batch mean
    expected = 0.8 * before + 0.2 * features.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(layer.moving_mean.numpy(), expected, rtol=1e-4, atol=1e-5)
    default = build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.35, input_upsample=2)
    assert {layer.momentum for layer in default.layers if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}


def test_mobilenet_v2_weight_decay_penalises_every_kernel_and_is_saved(tmp_path):
    model = build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.35, input_upsample=2, weight_decay=3e-4)
    kernels = [
        layer.depthwise_kernel if isinstance(layer, keras.layers.DepthwiseConv2D) else layer.kernel
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense))
    ]
    assert len(kernels) == 53  # 35 convs, 17 depthwise convs, the logits
    expected = 3e-4 * sum(float(np.sum(np.square(kernel.numpy()))) for kernel in kernels)
    path = str(tmp_path / "m.keras")
    model.save(path)
    for candidate in (model, keras.models.load_model(path)):
        assert len(candidate.losses) == len(kernels)
        np.testing.assert_allclose(float(sum(candidate.losses)), expected, rtol=1e-4)
    assert build_teacher("mobilenet_v2", (32, 32, 1), 10, alpha=0.35, weight_decay=0.0).losses == []
    assert len(build_teacher("mobilenet_v2", (32, 32, 1), 10, alpha=0.35).losses) == len(kernels)  # 1e-4 default


def test_unknown_architecture_and_options():
    with pytest.raises(UserError, match="unknown teacher architecture 'vgg'"):
        build_teacher("vgg", (8, 8, 1), 2)
    with pytest.raises(UserError, match="bn_momentum=1.5 must be in"):
        build_teacher("mobilenet_v2", (32, 32, 1), 2, alpha=0.35, bn_momentum=1.5)
    with pytest.raises(UserError, match="weight_decay=-0.1 must be in"):
        build_teacher("mobilenet_v2", (32, 32, 1), 2, alpha=0.35, weight_decay=-0.1)
    with pytest.raises(UserError, match="bad options"):
        build_teacher("resnet20", (8, 8, 1), 2, depth=3)


def test_nested_batchnorm_layers_are_found():
    inner_input = keras.Input((4, 4, 2))
    inner = keras.Model(inner_input, keras.layers.BatchNormalization(name="inner_bn")(inner_input))
    image = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 1)(image)
    x = keras.layers.BatchNormalization(name="outer_bn")(x)
    x = inner(x)
    logits = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    names = [layer.name for layer in find_batchnorm_layers(keras.Model(image, logits))]
    assert names == ["outer_bn", "inner_bn"]


def _saved_teacher(tmp_path, preprocessing, **options):
    import json

    model = build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.35, **options)
    for weight in model.weights:  # distinct values, so that a wrong copy shows
        weight.assign(np.random.default_rng(len(weight.name)).normal(size=weight.shape).astype(np.float32))
    path = tmp_path / "source" / "teacher.keras"
    path.parent.mkdir()
    model.save(str(path))
    record = {"preprocessing": preprocessing.to_dict(), "test_top1": 0.91, "epochs": 30}
    (path.parent / "teacher.json").write_text(json.dumps(record))
    return model, str(path)


def test_init_from_copies_every_weight_across_an_input_upsample_change(tmp_path):
    from autorecon_tf.data.pipeline import Preprocessing
    from autorecon_tf.teachers.init_from import initialize_from

    trained_with = Preprocessing(mean=(0.29,), std=(0.35,), pad_to=0)
    source, path = _saved_teacher(tmp_path, trained_with, input_upsample=2)
    target = build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.35, input_upsample=3)
    # This run's own normalisation (say, from a training subset) gives way to the source's.
    kept, preprocessing = initialize_from(target, path, Preprocessing(mean=(0.5,), std=(0.25,), pad_to=0))
    assert preprocessing == trained_with
    assert kept == {"test_top1": 0.91, "validation_top1": None, "epochs": 30, "wall_time_seconds": None, "path": path}
    assert target.get_layer("input_upsample").output.shape[1:3] == (84, 84)
    assert len(target.weights) == len(source.weights)
    for mine, theirs in zip(target.weights, source.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())

    with pytest.raises(UserError, match=r"layer '\w+' needs weights of shapes .* the file has shapes"):
        initialize_from(build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.5, input_upsample=2), path, trained_with)
    with pytest.raises(UserError, match="no such layer"):
        initialize_from(build_teacher("resnet20", (28, 28, 1), 10, width_multiplier=0.25), path, trained_with)
    smaller = build_teacher("mobilenet_v2", (28, 28, 1), 10, alpha=0.35, input_upsample=2)
    smaller = keras.Model(smaller.input, smaller.get_layer("block_15_add").output)  # no head, fewer blocks
    with pytest.raises(UserError, match=r"has layers with weights that this architecture lacks \(block_16_expand"):
        initialize_from(smaller, path, trained_with)
    with pytest.raises(UserError, match="trained with pad_to=0, this run has config.pad_to=32"):
        initialize_from(target, path, Preprocessing(mean=(0.29,), std=(0.35,), pad_to=32))
    with pytest.raises(UserError, match="config.init_from: .*absent.keras"):
        initialize_from(target, str(tmp_path / "absent.keras"), trained_with)


def test_progress_lines_show_the_losses_the_model_logs(tmp_path, capsys):
    from autorecon_tf.trainers.callbacks import ProgressRecorder

    recorder = ProgressRecorder(str(tmp_path / "progress.json"), images_per_epoch=100, print_every=2)
    recorder.on_epoch_begin(0)
    recorder.on_train_batch_end(0, {"loss": 0.5})  # not a printing step
    recorder.on_train_batch_end(1, {"loss": 0.5, "accuracy": 0.9})  # a teacher
    recorder.on_train_batch_end(3, {"generator_loss": 0.05, "bns": 0.2, "student_loss": 0.27})  # compression
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["  step 2", "  step 4"]
    assert lines[0].endswith(", loss=0.5000")
    assert lines[1].endswith(", generator_loss=0.0500, student_loss=0.2700") and "nan" not in lines[1]


def test_the_last_step_of_an_epoch_prints_only_the_epoch_line(tmp_path, capsys):
    """A 100-step epoch printed "step 100: 84 s" and then "epoch 3: 84 s" (compress, standard preset)."""
    from autorecon_tf.trainers.callbacks import ProgressRecorder

    recorder = ProgressRecorder(str(tmp_path / "progress.json"), images_per_epoch=100, print_every=2)
    recorder.set_params({"steps": 4, "epochs": 1})
    recorder.on_epoch_begin(0)
    for batch in range(4):
        recorder.on_train_batch_end(batch, {"loss": 0.5})
    recorder.on_epoch_end(0, {"loss": 0.5})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["  step 2", "epoch 1"]
