"""``run_layer_test``: the checks every custom layer of the package gets, as keras-hub's helper of that name does."""

import os
import tempfile

import numpy as np

from autorecon_tf.compat import keras, tf
from autorecon_tf.teachers.loader import SERIALIZABLE_MODULES, load_keras_model


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) and isinstance(value[0], np.ndarray) else [value]


def _unwrap(values):
    return values[0] if len(values) == 1 else values


def run_layer_test(layer_class, init_kwargs, input_shape=None, input_data=None, call_kwargs=None, fit=True):
    """Checks ``layer_class(**init_kwargs)`` the way every project layer must behave; returns the eager output.

    - it is registered as ``"autorecon_tf>ClassName"`` (the name saved files hold) by a module of
      ``teachers.loader.SERIALIZABLE_MODULES`` (so the loader imports it);
    - ``from_config(get_config())`` gives the same config, which holds every init argument;
    - a symbolic call on ``keras.Input`` and an eager call on data give the same output shape;
    - a tiny model around it trains one ``fit`` step (``fit=False`` for layers without weights);
    - the model saved as ``.keras`` loads back through ``load_keras_model`` with equal outputs.

    Args:
        layer_class: the layer class.
        init_kwargs: its constructor arguments.
        input_shape: shape of one float input, batch dimension included (random normal data).
        input_data: instead, the input array, or a list of arrays for a layer called on a list.
        call_kwargs: extra arguments of the call (constants, not tensors of the batch).
    """
    call_kwargs = call_kwargs or {}
    name = keras.saving.get_registered_name(layer_class)
    assert name == f"autorecon_tf>{layer_class.__name__}", name
    assert keras.saving.get_registered_object(name) is layer_class
    assert layer_class.__module__ in SERIALIZABLE_MODULES, layer_class.__module__
    layer = layer_class(**init_kwargs)
    config = layer.get_config()
    assert set(init_kwargs) <= set(config), set(init_kwargs) - set(config)
    assert layer_class.from_config(config).get_config() == config

    if input_data is None:
        input_data = np.random.default_rng(0).standard_normal(input_shape).astype("float32")
    arrays = _as_list(input_data)
    inputs = [keras.Input(shape=array.shape[1:], dtype=array.dtype) for array in arrays]
    symbolic = layer(_unwrap(inputs), **call_kwargs)
    eager = layer(_unwrap([tf.constant(array) for array in arrays]), **call_kwargs)
    assert tuple(symbolic.shape) == (None, *eager.shape[1:]), (symbolic.shape, eager.shape)

    model = keras.Model(inputs, symbolic)
    if fit:
        before = [weight.numpy().copy() for weight in layer.trainable_weights]
        assert before, f"{layer_class.__name__} has no trainable weights: pass fit=False"
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(_unwrap(arrays), np.ones(eager.shape, "float32"), batch_size=len(arrays[0]), epochs=1, verbose=0)
        assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, layer.trainable_weights))

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "layer.keras")
        model.save(path)
        loaded = load_keras_model(path, "layer test model")
    assert loaded.layers[-1].get_config() == layer.get_config()
    expected = model(_unwrap(arrays), training=False)
    np.testing.assert_allclose(loaded(_unwrap(arrays), training=False), expected, rtol=1e-6, atol=1e-6)
    return eager
