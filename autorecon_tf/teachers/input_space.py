"""A user's classifier as the data-free stages need it: flat, and fed in the generator's image space.

A model trained elsewhere comes with no ``teacher.json``. Two facts must then come
from the model itself or from the user:

- **Nesting.** The transfer-learning shape ``Sequential([keras.applications.X(include_top=False),
  GlobalAveragePooling2D(), Dense(n)])`` holds a sub-model, which TFMOT cannot quantize.
  :func:`flatten` re-builds it as one functional graph of copies of its leaf layers
  (weights copied; the user's model is untouched).
- **The input space.** ``pixels`` are what the user feeds the model (and what ``--eval_data``
  holds). The model's *core* starts after its leading preprocessing layers (Rescaling,
  Normalization: what keras.applications families build in), which are cut off and become
  the affine :class:`~autorecon_tf.data.pipeline.Preprocessing` of evaluation; they stay
  float. The generator produces images in the core's space, as the issue asks: GDFQ's
  generator ends in a BatchNorm without affine, so its images are standardised; where the
  core's space is a *range* (``Rescaling`` alone, or ``--input_range``) rather than
  standardised (``Normalization``, or ``--input_mean``/``--input_std``), a float
  ``Rescaling`` that maps [-1, 1] onto that range leads the core (the *adapter*).

Sources, in order (:func:`resolve`, which says which one it used):

1. the model's leading Rescaling/Normalization layers, with pixels 0..255 (keras.applications'
   convention) or 0..1 (if only that keeps the normalised values within +-8);
2. ``--input_mean``/``--input_std`` (the model takes ``(pixels - mean) / std``; pixels 0..255,
   or 0..1 where every mean is at most 1) or ``--input_range=lo,hi`` (the model takes pixels
   in [lo, hi]); flags given with a preprocessing model override the inferred pixel range only;
3. otherwise a one-line error that names the flags.
"""

import dataclasses

import numpy as np

from autorecon_tf.compat import keras
from autorecon_tf.data.pipeline import Preprocessing
from autorecon_tf.errors import UserError
from autorecon_tf.utils.functional import node_inbounds, producers

PREPROCESSING_LAYERS = (keras.layers.Rescaling, keras.layers.Normalization)
PIXEL_RANGES = ((0.0, 255.0), (0.0, 1.0))  # tried in this order when the model normalises itself
_NORMALISED_BOUND = 8.0
FLAGS_HINT = "--input_range=0,255 (the pixels the model takes) or --input_mean=M --input_std=S"


@dataclasses.dataclass(frozen=True)
class InputSpace:
    """How pixels reach the core: the affine ``scale * pixels + offset`` (per channel) and where that came from."""

    pixel_range: tuple
    scale: tuple
    offset: tuple
    standardised: bool
    source: str

    def core_range(self):
        ends = [np.asarray(self.scale) * end + np.asarray(self.offset) for end in self.pixel_range]
        return np.minimum(*ends), np.maximum(*ends)

    def adapter(self):
        """``(scale, offset)`` of the float layer from the generator's space to the core's, or None (identity)."""
        if self.standardised:
            return None
        low, high = self.core_range()
        scale, offset = (high - low) / 2.0, (high + low) / 2.0
        if np.allclose(scale, 1.0) and np.allclose(offset, 0.0):
            return None
        return tuple(float(s) for s in scale), tuple(float(o) for o in offset)

    def preprocessing(self):
        """Pixels -> the generator's space, as a :class:`Preprocessing` (``(pixels / 255 - mean) / std``)."""
        scale, offset = np.asarray(self.scale, np.float64), np.asarray(self.offset, np.float64)
        adapter = self.adapter()
        if adapter is not None:  # generator space = (core - adapter offset) / adapter scale
            scale, offset = scale / np.asarray(adapter[0]), (offset - np.asarray(adapter[1])) / np.asarray(adapter[0])
        std = 1.0 / (255.0 * scale)
        return Preprocessing(tuple(float(s) for s in -offset * std), tuple(float(s) for s in std), 0)

    def to_dict(self):
        return {**dataclasses.asdict(self), "adapter": self.adapter()}


# --- Flattening. ------------------------------------------------------------------------------------------------------


def _is_container(layer):
    return isinstance(layer, keras.Sequential) or (isinstance(layer, keras.Model) and layer._is_graph_network)


def _copy(layer, names):
    name = layer.name if layer.name not in names else f"{layer.name}_{len(names)}"
    names.add(name)
    return layer.__class__.from_config({**layer.get_config(), "name": name})


def _call(layer, inputs, kwargs, state):
    """Calls a copy of ``layer`` (or, for a sub-model, copies of its layers) on ``inputs``; returns its outputs."""
    if _is_container(layer):
        return _call_graph(layer, inputs, state)
    if layer.name in state["skip"]:
        return list(inputs)
    clone = _copy(layer, state["names"])
    output = clone(inputs[0] if len(inputs) == 1 else inputs, **kwargs)
    if layer.weights:
        clone.set_weights(layer.get_weights())
    return [output]


def _call_graph(model, inputs, state):
    if isinstance(model, keras.Sequential):
        tensors = list(inputs)
        for layer in model.layers:
            tensors = _call(layer, tensors, {}, state)
        return tensors
    config = model.get_config()
    tensors = {entry[0]: [tensor] for entry, tensor in zip(config["input_layers"], inputs)}
    for entry in config["layers"]:
        if entry["name"] in tensors:
            continue
        if len(entry["inbound_nodes"]) != 1:
            raise UserError(
                f"layer {entry['name']!r} is called more than once (shared): give a model that calls it once"
            )
        node = node_inbounds(entry["inbound_nodes"][0])
        arguments = [tensors[name][index] for name, _, index, *_ in node]
        kwargs = node[0][3] if len(node[0]) > 3 else {}
        tensors[entry["name"]] = _call(model.get_layer(entry["name"]), arguments, kwargs, state)
    return [tensors[name][index] for name, _, index in config["output_layers"]]


def flatten(model, skip=(), adapter=None):
    """A flat functional model computing ``model`` from copies of its leaf layers.

    Args:
      model: a functional or Sequential model, possibly holding sub-models.
      skip: names of single-input leaf layers to leave out (their input passes through).
      adapter: ``(scale, offset)`` of a float ``Rescaling`` put first (see the module docstring).
    """
    image = keras.Input(shape=model.inputs[0].shape[1:], name=model.inputs[0].name.split(":")[0])
    first = image if adapter is None else keras.layers.Rescaling(*adapter, name="generator_space_adapter")(image)
    state = {"skip": set(skip), "names": set()}
    (output,) = _call_graph(model, [first], state)
    return keras.Model(image, output, name=model.name)


# --- The input space. -------------------------------------------------------------------------------------------------


def leading_preprocessing(flat_model):
    """The Rescaling/Normalization layers that follow the input of a flat model one after the other."""
    consumers = {}
    for name, inbound in producers(flat_model).items():
        for producer in inbound:
            consumers.setdefault(producer, []).append(flat_model.get_layer(name))
    chain, current = [], flat_model.layers[0]
    while len(consumers.get(current.name, [])) == 1 and isinstance(consumers[current.name][0], PREPROCESSING_LAYERS):
        current = consumers[current.name][0]
        chain.append(current)
    return chain


def _affine(layers, channels):
    scale, offset = np.ones(channels), np.zeros(channels)
    for layer in layers:
        if isinstance(layer, keras.layers.Rescaling):
            a, b = np.broadcast_to(layer.scale, channels), np.broadcast_to(layer.offset, channels)
        else:
            if layer.invert:
                raise UserError(f"layer {layer.name!r} is an inverting Normalization: remove it from the model's input")
            mean = np.broadcast_to(np.asarray(layer.mean).reshape(-1), channels)
            std = np.sqrt(np.broadcast_to(np.asarray(layer.variance).reshape(-1), channels))
            a, b = 1.0 / std, -mean / std
        scale, offset = a * scale, a * offset + b
    return scale, offset


def _space(pixel_range, scale, offset, standardised, source):
    as_tuple = lambda values: tuple(float(v) for v in values)  # noqa: E731
    return InputSpace(as_tuple(pixel_range), as_tuple(scale), as_tuple(offset), standardised, source)


def _parse_range(text):
    try:
        low, high = (float(part) for part in str(text).split(","))
    except ValueError:
        raise UserError(
            f"--input_range={text!r} is not two numbers: give it as lo,hi, e.g. --input_range=0,255"
        ) from None
    if not low < high:
        raise UserError(f"--input_range={text!r} is empty: give lo < hi, e.g. --input_range=0,255")
    return low, high


def _per_channel(text, channels, flag):
    try:
        values = np.array([float(part) for part in str(text).split(",")])
    except ValueError:
        raise UserError(
            f"{flag}={text!r} is not a number list: give one value or {channels}, comma-separated"
        ) from None
    if len(values) not in (1, channels):
        raise UserError(f"{flag}={text!r} has {len(values)} values: give one or {channels} (the model's channels)")
    return np.broadcast_to(values, channels)


def resolve(flat_model, path, input_range=None, input_mean=None, input_std=None):
    """``(InputSpace, prefix layer names)`` of a flat model; see the module docstring for the rules."""
    channels = int(flat_model.inputs[0].shape[-1])
    prefix = leading_preprocessing(flat_model)
    if (input_mean is None) != (input_std is None):
        raise UserError("--input_mean and --input_std go together: give both, or --input_range=lo,hi")
    if prefix:
        if input_mean is not None:
            raise UserError(f"{path!r} normalises its input itself ({prefix[0].name!r}): drop --input_mean/--input_std")
        scale, offset = _affine(prefix, channels)
        names = ", ".join(f"{type(layer).__name__} {layer.name!r}" for layer in prefix)
        standardised = isinstance(prefix[-1], keras.layers.Normalization)
        if input_range is not None:
            pixels, how = _parse_range(input_range), "--input_range"
        else:
            fits = [r for r in PIXEL_RANGES if max(abs(scale * end + offset).max() for end in r) <= _NORMALISED_BOUND]
            if not fits:
                raise UserError(f"cannot tell the pixel range of {path!r} from {names}: give {FLAGS_HINT}")
            pixels, how = fits[0], "inferred"
        source = f"the model's {names} (pixels {pixels[0]:g}..{pixels[1]:g}, {how})"
        return _space(pixels, scale, offset, standardised, source), [layer.name for layer in prefix]
    if input_mean is not None:
        mean, std = _per_channel(input_mean, channels, "--input_mean"), _per_channel(input_std, channels, "--input_std")
        if (std <= 0).any():
            raise UserError(f"--input_std={input_std!r} must be positive")
        pixels = _parse_range(input_range) if input_range is not None else PIXEL_RANGES[int(mean.max() <= 1.0)]
        source = f"--input_mean/--input_std (pixels {pixels[0]:g}..{pixels[1]:g})"
        return _space(pixels, 1.0 / std, -mean / std, True, source), []
    if input_range is not None:
        pixels = _parse_range(input_range)
        return _space(pixels, np.ones(channels), np.zeros(channels), False, f"--input_range={input_range}"), []
    raise UserError(f"{path!r} has no Rescaling/Normalization input layer and no teacher.json: give {FLAGS_HINT}")


def adapt(model, path, input_range=None, input_mean=None, input_std=None):
    """``(core model, InputSpace)``: ``model`` flat, its preprocessing cut off, the adapter (if any) first."""
    flat = flatten(model)
    space, prefix = resolve(flat, path, input_range, input_mean, input_std)
    if not prefix and space.adapter() is None:
        return flat, space
    return flatten(model, skip=prefix, adapter=space.adapter()), space
