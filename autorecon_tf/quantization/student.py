"""The low-bit student: a TFMOT QAT copy of the teacher, plus the controls GDFQ needs.

``build_student`` annotates the teacher's layers following the scheme's table
(:mod:`autorecon_tf.quantization.scheme`) and calls TFMOT's ``quantize_apply``,
which clones the functional graph with the teacher's weights and wraps the
annotated layers in ``QuantizeWrapperV2``. The teacher is never modified.

GDFQ's schedule then needs three things the Keras ``training`` flag cannot give:
``set_range_update`` (activation ranges update during warm-up, frozen after,
while BatchNorm stays in inference mode throughout), ``effective_weights`` (the
fake-quantized kernels, to check the grids) and ``static_ranges`` (used by
export: trace without the range-update ops).

What a student holds is read here, once: :func:`student_facts` (its quantizers,
their grids, the Dense kernels, the input's range and the graph's edges) and
:func:`output_extremes` (the one measurement of its tensors on images). The
range rules (``ranges.py``) and export work from those, not from the model.
"""

import contextlib
import dataclasses

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import QuantizeLayer

from autorecon_tf.compat import TFOpLambda, keras
from autorecon_tf.errors import UserError
from autorecon_tf.quantization.bias_grid import folding_batchnorms, with_grid_biases
from autorecon_tf.quantization.boundaries import INPUT_QUANTIZER, float_boundaries, input_quantize_layer
from autorecon_tf.quantization.configs import LayerQuantizeConfig
from autorecon_tf.quantization.quantizers import ActivationQuantizer, activation_grid
from autorecon_tf.quantization.scheme import get_scheme, splits_activation
from autorecon_tf.utils.functional import INPUT, edges, rebuild

MIN_BITS, MAX_BITS = 2, 8


def check_bits(value, what):
    """Returns ``value`` if it is an int bit width in 2..8, else raises a one-line UserError."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or not MIN_BITS <= value <= MAX_BITS
    ):
        raise UserError(f"{what}={value!r} is not supported: give an integer bit width from {MIN_BITS} to {MAX_BITS}")
    return int(value)


def _weight_layers(model, registry):
    return [layer for layer in model.layers if registry.policy(layer).weights]


def _check_model(model):
    if not isinstance(model, keras.Model) or not (isinstance(model, keras.Sequential) or model._is_graph_network):
        raise UserError(f"cannot quantize {type(model).__name__}: give a functional or Sequential Keras model")
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise UserError(f"layer {layer.name!r} is a nested model, which TFMOT cannot quantize: flatten the teacher")
        if isinstance(layer, tfmot.quantization.keras.QuantizeWrapper):
            raise UserError(f"model {model.name!r} is already quantized (layer {layer.name!r}): give the float teacher")


def build_student(
    teacher_model,
    weight_bits,
    activation_bits,
    scheme="gdfq",
    quantize_first_last=True,
    int8_boundaries=False,
    input_range=None,
    bias_grid=False,
):
    """Builds the QAT student of ``teacher_model`` (weights copied; the teacher is untouched).

    Args:
      teacher_model: a functional (or Sequential) Keras classifier.
      weight_bits, activation_bits: integer bit widths, 2..8, set independently.
      scheme: name of the quantization scheme; only ``"gdfq"`` (see ``scheme.py``).
      quantize_first_last: also quantize the weights of the first and the last
        weight layer (GDFQ does); activations are placed the same either way.
      int8_boundaries: also give the tensors GDFQ leaves float but a
        fully-integer .tflite stores as int8 (BatchNorm outputs into a residual
        Add, such Adds, the logits) an 8-bit EMA quantizer, so that the exported
        model computes what this one does (``quantization/boundaries.py``).
        False (the default) is GDFQ's placement exactly. With True, call
        ``ranges.set_deploy_ranges`` at the end of warm-up.
      input_range: with ``int8_boundaries``, ``(min, max)`` of every real input
        (the teacher's preprocessing of pixels 0..255); the student then starts
        with the 8-bit input fake-quant the .tflite applies.
      bias_grid: with ``int8_boundaries``, BatchNorm offsets folded into a conv's bias stay on
        LiteRT's accumulator grid (``quantization/bias_grid.py``; the trainer syncs the grid).

    Returns:
      A functional ``keras.Model`` with the teacher's inputs and outputs. Its
      activation ranges start empty and update while ``range_update`` is on
      (the default); see :func:`set_range_update`.

    Example:
      >>> student = build_student(teacher, weight_bits=4, activation_bits=4)
    """
    weight_bits = check_bits(weight_bits, "weight_bits")
    activation_bits = check_bits(activation_bits, "activation_bits")
    _check_model(teacher_model)
    teacher_model = split_activations(teacher_model)
    quantize_scheme = get_scheme(scheme, weight_bits, activation_bits)
    registry = quantize_scheme.get_quantize_registry()
    if bias_grid:
        teacher_model = _with_grid_biases(teacher_model, registry, quantize_first_last, int8_boundaries)
    annotate, annotated = _annotation(
        teacher_model, registry, weight_bits, activation_bits, quantize_first_last, int8_boundaries
    )
    with tfmot.quantization.keras.quantize_scope():
        annotated_model = keras.models.clone_model(teacher_model, clone_function=annotate)
        if not annotated:
            raise UserError(f"model {teacher_model.name!r} has no Conv2D, Dense or ReLU layer to quantize")
        student = tfmot.quantization.keras.quantize_apply(annotated_model, quantize_scheme)
    _match_saved_layout(student)
    if input_range is not None:
        if not int8_boundaries:
            raise ValueError("input_range is only used with int8_boundaries=True")
        student, _ = rebuild(student, after={INPUT: input_quantize_layer(input_range)})
    return student


def _with_grid_biases(teacher_model, registry, quantize_first_last, int8_boundaries):
    """``teacher_model`` with its conv-folded BatchNorms as ``bias_grid.GridBiasBatchNormalization``."""
    if not int8_boundaries:
        raise UserError(
            "student.bias_grid=True needs student.int8_boundaries=True (every conv input quantized): set both"
        )
    weight_layers = [layer.name for layer in _weight_layers(teacher_model, registry)]
    if not quantize_first_last:
        weight_layers = weight_layers[1:-1]
    return with_grid_biases(teacher_model, folding_batchnorms(teacher_model, weight_layers))


def split_activations(model):
    """``model`` with each fused non-ReLU activation as an ``Activation`` layer of its own (same function).

    The layer keeps its name and weights with ``activation="linear"``; ``<name>_activation``
    follows it (``scheme.splits_activation`` says which and why). ``model`` is untouched; it is
    returned as it is when nothing is split.
    """
    targets = [layer for layer in model.layers if splits_activation(layer)]
    if not targets:
        return model
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    linear = {
        layer.name: layer.__class__.from_config({**layer.get_config(), "activation": "linear"}) for layer in targets
    }
    after = {
        layer.name: keras.layers.Activation(layer.activation, name=f"{layer.name}_activation") for layer in targets
    }
    split, _ = rebuild(model, after=after, replace=linear)
    for layer in targets:
        linear[layer.name].set_weights(layer.get_weights())
    return split


def _annotation(teacher_model, registry, weight_bits, activation_bits, quantize_first_last, int8_boundaries):
    """``(annotate, annotated)``: the ``clone_function`` that marks layers for ``quantize_apply``, the names it marked."""
    weight_layers = _weight_layers(teacher_model, registry)
    float_weights = set() if quantize_first_last else {weight_layers[0].name, weight_layers[-1].name}
    boundaries = set(_boundaries(teacher_model, registry, weight_layers) if int8_boundaries else ())
    annotated = []

    def annotate(layer):
        config = registry.get_quantize_config(layer, quantize_weights=layer.name not in float_weights)
        if layer.name in boundaries:
            config = config or LayerQuantizeConfig(weight_bits=weight_bits, activation_bits=activation_bits)
            config.boundary_output = True
        if config is None:
            return layer
        annotated.append(layer.name)
        return tfmot.quantization.keras.quantize_annotate_layer(layer, quantize_config=config)

    return annotate, annotated


def _boundaries(teacher_model, registry, weight_layers):
    quantized = set()
    for layer in teacher_model.layers:
        policy = registry.policy(layer)
        if policy.activations or policy.output:
            quantized.add(layer.name)
    names = float_boundaries(teacher_model, quantized, {layer.name for layer in weight_layers}, include_pooling=False)
    # A TFOpLambda (keras.applications' hard-sigmoid ``* (1/6)``) cannot be wrapped: TFMOT's wrapper drops
    # the op's other arguments. Its output stays float here; export ranges it like any float tensor.
    return [name for name in names if not isinstance(teacher_model.get_layer(name), TFOpLambda)]


def _match_saved_layout(student):
    """Makes each wrapper list its own variables as it will after ``load_model``.

    ``QuantizeWrapperV2.build`` on an already built layer (what ``quantize_apply``
    does) lists the inner layer's weights in the wrapper too, once more than a
    wrapper rebuilt by ``load_model`` does, so the ``.keras`` format refuses to
    load ("expected 2 variables, but received 3"). The inner weights stay
    reachable through ``wrapper.layer``; ``trainable_weights`` is unchanged.
    """
    for wrapper in quantize_wrappers(student):
        wrapper._trainable_weights = [weight for weight, _, _ in wrapper._weight_vars]


def quantize_wrappers(model):
    """The ``QuantizeWrapper`` layers of ``model``, in graph order."""
    return [layer for layer in model.layers if isinstance(layer, tfmot.quantization.keras.QuantizeWrapper)]


def activation_quantizers(model):
    """``(name, quantizer, variables)`` for every activation quantizer of ``model``."""
    found = []
    for wrapper in quantize_wrappers(model):
        for quantizer in wrapper._output_quantizers or []:
            found.append((wrapper.name, quantizer, wrapper._output_quantizer_vars))
        for activation in wrapper._quantize_activations:
            if isinstance(activation.quantizer, ActivationQuantizer) and activation._should_post_quantize():
                found.append((f"{wrapper.name}/activation", activation.quantizer, activation._post_activation_vars))
    return [entry for entry in found if isinstance(entry[1], ActivationQuantizer)]


def quantized_layer(quantizer_name):
    """The layer name of an :func:`activation_quantizers` entry: ``"<layer>"`` or ``"<layer>/activation"``.

    keras.applications layer names hold "/" themselves (``expanded_conv/squeeze_excite/Relu``).
    """
    suffix = "/activation"
    return quantizer_name[: -len(suffix)] if quantizer_name.endswith(suffix) else quantizer_name


def lowbit_activation_quantizers(model):
    """Like :func:`activation_quantizers`, without the 8-bit int8-boundary quantizers."""
    return [entry for entry in activation_quantizers(model) if not entry[1].boundary]


def is_quantized_student(model):
    """True if ``model`` holds at least one of this project's quantizers."""
    return any(wrapper._weight_vars or activation_quantizers(model) for wrapper in quantize_wrappers(model))


def set_range_update(student, enabled):
    """Switches the EMA update of every activation range on or off (works in traced tf.functions)."""
    for _, _, variables in activation_quantizers(student):
        variables["range_update"].assign(bool(enabled))


def effective_weights_of(wrapper):
    """The fake-quantized kernel (numpy) of a wrapper with one quantized weight."""
    ((weight, quantizer, variables),) = wrapper._weight_vars
    return quantizer(weight, training=False, weights=variables).numpy()


def activation_ranges(student):
    """``{name: (min, max)}``: the current EMA range of every activation quantizer."""
    return {name: (float(v["min"].numpy()), float(v["max"].numpy())) for name, _, v in activation_quantizers(student)}


def effective_weights(student):
    """``{layer name: fake-quantized kernel (numpy)}`` for every quantized weight of ``student``."""
    result = {}
    for wrapper in quantize_wrappers(student):
        for weight, quantizer, variables in wrapper._weight_vars:
            key = wrapper.layer.name if len(wrapper._weight_vars) == 1 else f"{wrapper.layer.name}/{weight.name}"
            result[key] = quantizer(weight, training=False, weights=variables).numpy()
    return result


@contextlib.contextmanager
def static_ranges(student):
    """Within the block, traces of ``student`` read the activation ranges without update ops.

    Export uses it: a .tflite has no variables to update, and the frozen range
    becomes a constant. Eager calls and tf.functions traced outside the block
    are unaffected.
    """
    quantizers = [quantizer for _, quantizer, _ in activation_quantizers(student)]
    for quantizer in quantizers:
        quantizer.static_ranges = True
    try:
        yield student
    finally:
        for quantizer in quantizers:
            quantizer.static_ranges = False


def input_quantizer_range(model):
    """``(min, max)`` of the input fake-quant of a deployment-faithful student, else None."""
    for layer in model.layers:
        if isinstance(layer, QuantizeLayer) and layer.name == INPUT_QUANTIZER:
            config = layer.quantizer.get_config()
            return float(config["init_min"]), float(config["init_max"])
    return None


@dataclasses.dataclass(frozen=True)
class StudentFacts:
    """One read of what a student holds: what the range rules (``ranges.py``) and export work from.

    Attributes:
      quantizers: :func:`activation_quantizers`' ``(name, quantizer, variables)`` entries.
      quantized_layers: names of the layers whose output (or fused activation) is fake-quantized.
      weight_layers: names of the wrappers with quantized weights.
      kernels: ``{wrapper name: fake-quantized kernel}`` of the wrapped Dense layers (the logits' bound).
      grids: ``{layer name: (low, step, num_bits)}`` of the grid of each layer's activation quantizer.
      input_range: :func:`input_quantizer_range`.
      graph: the student's :class:`~autorecon_tf.utils.functional.Edges`.
    """

    quantizers: tuple
    quantized_layers: frozenset
    weight_layers: frozenset
    kernels: dict
    grids: dict
    input_range: tuple
    graph: object


def student_facts(student):
    """The :class:`StudentFacts` of ``student`` (a UserError for a model without this project's quantizers)."""
    if not is_quantized_student(student):
        raise UserError(f"model {student.name!r} has no autorecon_tf quantizers: give a student from tools/compress.py")
    quantizers = tuple(activation_quantizers(student))
    wrappers = quantize_wrappers(student)
    quantized_layers = frozenset(quantized_layer(name) for name, _, _ in quantizers)
    input_range = input_quantizer_range(student)
    kernels = {
        wrapper.name: effective_weights_of(wrapper)
        for wrapper in wrappers
        if isinstance(wrapper.layer, keras.layers.Dense) and len(wrapper._weight_vars) == 1
    }
    grids = {}
    for name, quantizer, variables in quantizers:
        low, step = activation_grid(variables["min"], variables["max"], quantizer.num_bits)
        grids.setdefault(quantized_layer(name), (low, step, quantizer.num_bits))
    return StudentFacts(
        quantizers=quantizers,
        quantized_layers=quantized_layers,
        weight_layers=frozenset(wrapper.name for wrapper in wrappers if wrapper._weight_vars),
        kernels=kernels,
        grids=grids,
        input_range=input_range,
        graph=edges(student),
    )


def output_extremes(student, names, images, batch_size=64, bypass=()):
    """``(low, high)`` arrays: min and max over ``images`` of the student's input and of each layer in ``names``.

    Measured with the ranges frozen (:func:`static_ranges`); ``bypass``: layers not called (``functional.rebuild``).
    """
    low = np.full(len(names) + 1, np.inf)
    high = np.full(len(names) + 1, -np.inf)
    with static_ranges(student):
        model, tensors = rebuild(student, bypass=bypass)
        probe = keras.Model(model.inputs[0], [model.inputs[0]] + [tensors[name] for name in names])
        for start in range(0, len(images), batch_size):
            values = probe(images[start : start + batch_size], training=False)
            low = np.minimum(low, [float(np.min(value)) for value in values])
            high = np.maximum(high, [float(np.max(value)) for value in values])
    return low, high


def student_bits(student):
    """``(weight_bits, activation_bits)`` of a student (None where nothing is quantized)."""
    weight_bits = {q.num_bits for w in quantize_wrappers(student) for _, q, _ in w._weight_vars}
    activation_bits = {q.num_bits for _, q, _ in lowbit_activation_quantizers(student)}
    if len(weight_bits) > 1 or len(activation_bits) > 1:
        raise UserError(f"student {student.name!r} mixes bit widths {sorted(weight_bits)}/{sorted(activation_bits)}")
    return (next(iter(weight_bits), None), next(iter(activation_bits), None))
