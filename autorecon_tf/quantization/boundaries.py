"""Int8 boundaries: the float tensors of a GDFQ student that a fully-integer .tflite stores as int8.

GDFQ quantizes weights and ReLU outputs only. LiteRT's int8 kernels also need an
int8 scale on every other tensor that crosses a kernel boundary: a BatchNorm
output entering a residual Add, an Add output not followed by a quantized ReLU,
the logits. If the Keras student leaves those float and only the export adds
8-bit fake-quants, the .tflite computes another function than the student that
was trained and evaluated: on a 40-iteration W8A8 ResNet-20 student the int8
logit rounding alone moved 1.5% of the test images' top-1
(BENCHMARKS.md, "Export parity"). So ``build_student(..., int8_boundaries=True)``
gives each of these tensors an 8-bit :class:`ActivationQuantizer` (EMA range,
updated during warm-up, frozen after, like the a-bit ones): what is trained is
what is exported.

Measured (BENCHMARKS.md, "Export parity"): on that W8A8 student the Keras/LiteRT
top-1 agreement rose from 98.43% to 99.40%, but the logit range learned on
generated images was [-5.5, 5.4] where real logits reach ~20, so the clipped
logits tied and top-1 fell from 91.1% to 79.0%. Hence off by default. The next
step is data-free ranges that cannot clip, frozen at the end of warm-up (the
export's BN-statistics and interval bounds in ``export/graph.py``).

Left out on purpose:

* tensors the converter fuses away: a Conv/Dense output consumed only by its
  BatchNorm (folded into the kernel), and any tensor consumed only by
  quantized ReLUs (the ReLU and its a-bit fake-quant fuse into the producer);
* the input image (GDFQ does not quantize it; export gives it the exact 8-bit
  range of the teacher's preprocessing) and pooling outputs (export puts them
  on a grid derived from the a-bit input; see ``autorecon_tf/export/graph.py``).
"""

from autorecon_tf.compat import keras

POOLING = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.MaxPooling2D,
)


def _inner(layer):
    """The layer a TFMOT wrapper holds, else the layer itself."""
    return getattr(layer, "layer", layer)


def _fusing(model, name, quantized):
    """True if layer ``name`` is a quantized activation layer (the converter fuses it into its producer)."""
    return name in quantized and isinstance(_inner(model.get_layer(name)), (keras.layers.ReLU, keras.layers.Activation))


def consumers(config):
    """``{layer name: [names of the layers that take its output]}`` from a functional config."""
    found = {}
    for entry in config["layers"]:
        for node in entry["inbound_nodes"]:
            for inbound in node:
                found.setdefault(inbound[0], []).append(entry["name"])
    return found


def float_boundaries(model, quantized, weight_layers, include_pooling=True):
    """Names of the layers of ``model`` whose float output becomes an int8 tensor in the .tflite.

    Args:
      model: a functional Keras model (teacher or student).
      quantized: names of the layers whose output is already fake-quantized.
      weight_layers: names of the Conv/Dense layers (their BatchNorm may fold into them).
      include_pooling: also list pooling layers (export ranges them itself).
    """
    config = model.get_config()
    users_of = consumers(config)
    outputs = {entry[0] for entry in config["output_layers"]}
    found = []
    for entry in config["layers"]:
        name = entry["name"]
        users = users_of.get(name, [])
        layer = model.get_layer(name)
        inner = _inner(layer)
        if name in quantized or isinstance(layer, keras.layers.InputLayer):
            continue
        if not include_pooling and isinstance(inner, POOLING):
            continue
        if name not in outputs and users and all(_fusing(model, user, quantized) for user in users):
            continue  # fused into the producer with the ReLU's a-bit range
        if (
            name in weight_layers
            and users
            and all(isinstance(_inner(model.get_layer(user)), keras.layers.BatchNormalization) for user in users)
        ):
            continue  # BatchNorm is folded into the conv
        found.append(name)
    return found
