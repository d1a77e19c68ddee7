"""Re-calling a flat functional model's layers on a new input, with layers inserted between them.

Export adds 8-bit fake-quants on some tensors of a student (``export/graph.py``);
a deployment-faithful student gets one on its input (``quantization/boundaries.py``).
Both re-call the model's own layers (weights shared, nothing copied) in graph order
and insert new layers after (or before) named layers. The teachers here call
every layer once, which is all this supports.
"""

import dataclasses

from autorecon_tf.compat import keras

INPUT = "__input__"


def node_inbounds(node):
    """The ``[layer name, node index, tensor index, kwargs]`` entries of one node of a functional config.

    A TFOpLambda layer (a TF op on a symbolic tensor, e.g. ``x + 3.``) stores its one
    inbound entry as the node itself rather than in a list of entries.
    """
    return [node] if isinstance(node[0], str) else node


@dataclasses.dataclass(frozen=True)
class Edges:
    """The layer graph of a functional model, read from one ``get_config()``.

    Attributes:
      producers: ``{layer name: [names of the layers whose outputs it takes]}``.
      consumers: ``{layer name: [names of the layers that take its output]}``.
      outputs: names of the output layers.
      order: every layer's name, in the config's (graph) order.
    """

    producers: dict
    consumers: dict
    outputs: frozenset
    order: tuple


def edges(model):
    """The :class:`Edges` of a functional model."""
    config = model.get_config()
    producers_, consumers = {}, {}
    for entry in config["layers"]:
        for node in entry["inbound_nodes"][:1]:
            producers_[entry["name"]] = [inbound[0] for inbound in node_inbounds(node)]
        for node in entry["inbound_nodes"]:
            for inbound in node_inbounds(node):
                consumers.setdefault(inbound[0], []).append(entry["name"])
    outputs = frozenset(entry[0] for entry in config["output_layers"])
    return Edges(producers_, consumers, outputs, tuple(entry["name"] for entry in config["layers"]))


def producers(model):
    """``{layer name: [names of the layers whose outputs it takes]}`` of a functional model."""
    return edges(model).producers


def rebuild(model, after=None, before=None, name=None, bypass=(), replace=None):
    """A new functional model calling ``model``'s layers, with layers inserted.

    Args:
      model: a flat functional model with one input.
      after: ``{layer name or INPUT: layer}``: ``layer`` is called on that layer's
        output (on the model input for ``INPUT``) and replaces it downstream.
      before: ``{layer name: layer}``: ``layer`` is called on the (single) input
        of that layer; ``{layer name: [layer, ...]}``: one on each of its inputs.
      name: the new model's name (default: ``model.name``).
      bypass: names of single-input layers that are not called: their input
        passes through unchanged.
      replace: ``{layer name: layer}``: ``layer`` is called in that layer's place.

    Returns:
      ``(model, tensors)``: the new model and ``{layer name: output tensor}``.
    """
    after, before, replace = after or {}, before or {}, replace or {}
    config = model.get_config()
    input_name = config["input_layers"][0][0]
    image = keras.Input(shape=model.inputs[0].shape[1:], name=input_name)
    tensors = {input_name: after[INPUT](image) if INPUT in after else image}
    for entry in config["layers"]:
        layer_name = entry["name"]
        if layer_name == input_name:
            continue
        (node,) = entry["inbound_nodes"]
        node = node_inbounds(node)
        inputs = [tensors[inbound[0]] for inbound in node]
        if isinstance(before.get(layer_name), (list, tuple)):
            inputs = [inserted(tensor) for inserted, tensor in zip(before[layer_name], inputs, strict=True)]
        elif layer_name in before:
            inputs = [before[layer_name](inputs[0])]
        kwargs = node[0][3] if len(node[0]) > 3 else {}
        if layer_name in bypass:
            (output,) = inputs
        else:
            layer = replace.get(layer_name) or model.get_layer(layer_name)
            output = layer(inputs[0] if len(inputs) == 1 else inputs, **kwargs)
        if layer_name in after:
            output = after[layer_name](output)
        tensors[layer_name] = output
    outputs = [tensors[entry[0]] for entry in config["output_layers"]]
    rebuilt = keras.Model(image, outputs[0] if len(outputs) == 1 else outputs, name=name or model.name)
    return rebuilt, tensors
