"""Loading and validating a user's teacher model.

Later stages need three things from a teacher: a 4-D image input, a class-score
output (logits or probabilities) and at least one BatchNorm layer, whose
running statistics are the only knowledge of the training data that a
data-free method gets. :func:`load_teacher` checks all three and reports each
failure as one line naming the file and the fix.

The sidecar ``teacher.json`` written by ``tools/train_teacher.py`` (same
directory, or ``<model>.json``) supplies the input normalisation. Any other
classifier is flattened and its input space resolved by
:mod:`autorecon_tf.teachers.input_space` (its own Rescaling/Normalization layers,
or ``--input_range`` / ``--input_mean``/``--input_std``).
"""

import dataclasses
import importlib
import os
import zipfile

from autorecon_tf.compat import keras, sidestep_onednn_strided_1x1_bug, tf
from autorecon_tf.data.pipeline import DEFAULT_PIXEL_RANGE, Preprocessing
from autorecon_tf.errors import UserError
from autorecon_tf.teachers import input_space
from autorecon_tf.utils.records import read_record

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_FIX = "give a Keras classifier saved as .keras, .h5 or a SavedModel directory"

# The modules that register (keras.saving.register_keras_serializable, package "autorecon_tf") the
# classes that saved generators and students name in their configs, as "autorecon_tf>ClassName".
# Importing them is what registers them, so the loader imports them on its first call; TFMOT's own
# classes (QuantizeWrapperV2, QuantizeLayer, ...) come from ``quantize_scope()``.
SERIALIZABLE_MODULES = (
    "autorecon_tf.search_space.ops",  # Zero
    "autorecon_tf.supernet.mixed_op",  # MixedOp
    "autorecon_tf.generators.upsample_conv",  # NearestUpsampleConv2D
    "autorecon_tf.generators.gdfq",  # ClassConditionalAffine
    "autorecon_tf.generators.dfad",  # DFADGenerator
    "autorecon_tf.quantization.quantizers",  # WeightQuantizer, ActivationQuantizer
    "autorecon_tf.quantization.configs",  # LayerQuantizeConfig
    "autorecon_tf.quantization.bias_grid",  # GridBiasBatchNormalization
)


@dataclasses.dataclass
class Teacher:
    """A validated teacher: the model plus what the data-free stages need to know."""

    model: object
    path: str
    input_shape: tuple
    num_classes: int
    batchnorm_layers: list
    outputs_probabilities: bool
    preprocessing: Preprocessing
    info: dict
    space: object = None  # input_space.InputSpace, for a model without teacher.json

    @property
    def pixel_range(self):
        """The pixels it takes: its resolved input space's range (a user's model), else 0..255 (teacher.json)."""
        return tuple(self.space.pixel_range) if self.space is not None else DEFAULT_PIXEL_RANGE

    def summary(self):
        kind = "probabilities" if self.outputs_probabilities else "logits"
        source = "teacher.json" if self.space is None else self.space.source
        return (
            f"teacher {os.path.basename(self.path)}: input {self.input_shape}, {self.num_classes} classes "
            f"({kind}), {len(self.batchnorm_layers)} BatchNorm layers, {self.model.count_params():,} parameters; "
            f"input space from {source}"
        )


def find_batchnorm_layers(model):
    """Every BatchNormalization layer of ``model``, nested sub-models included, in graph order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model) or hasattr(layer, "layers"):
            found.extend(find_batchnorm_layers(layer))
    return found


def load_keras_model(path, what="model"):
    """Loads a .keras/.h5/SavedModel file with one-line errors for missing or corrupt files."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{what} file {path!r} does not exist: {_FIX}")
    is_saved_model = os.path.isdir(path)
    if is_saved_model and not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise UserError(f"{what} directory {path!r} holds no saved_model.pb: {_FIX}")
    if not is_saved_model and not path.endswith(MODEL_SUFFIXES):
        raise UserError(f"{what} file {path!r} has an unknown suffix: {_FIX}")
    import tensorflow_model_optimization as tfmot

    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)
    try:
        with tfmot.quantization.keras.quantize_scope():
            return keras.models.load_model(path, compile=False)
    # Corrupt files fail deep inside h5py, zipfile, protobuf or Keras with many error types.
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, tf.errors.OpError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{what} file {path!r} could not be loaded ({first[:200]}): {_FIX}") from error


def _sidecar_info(path):
    base = path.rstrip("/")
    for candidate in (os.path.splitext(base)[0] + ".json", os.path.join(os.path.dirname(base), "teacher.json")):
        if os.path.isfile(candidate):
            return read_record(candidate, "re-run train_teacher or delete it")
    return {}


def _outputs_probabilities(model):
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax" or type(last).__name__ == "Softmax"


def validate_teacher(model, path="<model>", require_batchnorm=True):
    """Checks that ``model`` is a functional image classifier with BatchNorm; returns its facts."""
    if not isinstance(model, keras.Model):
        raise UserError(f"{path!r} holds a {type(model).__name__}, not a Keras model: {_FIX}")
    if len(model.inputs or []) != 1 or len(model.outputs or []) != 1:
        raise UserError(
            f"{path!r} must have one image input and one class-score output (a subclassed model? save a functional one)"
        )
    input_shape = tuple(model.inputs[0].shape)
    if len(input_shape) != 4 or None in input_shape[1:]:
        raise UserError(
            f"{path!r} is not an image model: its input shape is {input_shape}, expected (batch, height, width, channels)"
        )
    output_shape = tuple(model.outputs[0].shape)
    if len(output_shape) != 2 or output_shape[1] is None or output_shape[1] < 2:
        raise UserError(f"{path!r} is not a classifier: its output shape is {output_shape}, expected (batch, classes)")
    batchnorm = find_batchnorm_layers(model)
    if require_batchnorm and not batchnorm:
        raise UserError(
            f"{path!r} has no BatchNormalization layer: data-free compression matches BatchNorm statistics, "
            "so the teacher needs at least one"
        )
    return tuple(int(d) for d in input_shape[1:]), int(output_shape[1]), batchnorm


def load_teacher(path, require_batchnorm=True, input_range=None, input_mean=None, input_std=None):
    """Loads and validates a teacher file; see the module docstring.

    ``input_range``, ``input_mean``, ``input_std``: the flags' text (see
    :func:`~autorecon_tf.teachers.input_space.resolve`), for a model without teacher.json.
    """
    model = load_keras_model(path, what="teacher")
    info = _sidecar_info(os.fspath(path))
    return teacher_from_model(model, os.fspath(path), info, require_batchnorm, input_range, input_mean, input_std)


def require_logits(teacher):
    """Raises a one-line UserError unless ``teacher`` (a :class:`Teacher`) outputs logits, as the trainers need."""
    if teacher.outputs_probabilities:
        raise UserError(
            f"teacher {teacher.path!r} outputs probabilities: give a teacher whose last layer outputs logits"
        )
    return teacher


def in_memory_name(model):
    """What names a model that has no file (the Python API's teacher): its name and weights digest."""
    from autorecon_tf.determinism import weights_digest

    return f"<in-memory model {model.name!r}, weights sha256 {weights_digest(model)[:16]}>"


def teacher_from_model(
    model, path, info=None, require_batchnorm=True, input_range=None, input_mean=None, input_std=None
):
    """A :class:`Teacher` of a Keras model; ``path`` names it in messages and records, ``info`` is its teacher.json."""
    validate_teacher(model, path, require_batchnorm)
    sidestep_onednn_strided_1x1_bug(model)  # before the model first runs (compat's docstring)
    info, space = dict(info or {}), None
    if "preprocessing" in info:
        if (input_range, input_mean, input_std) != (None, None, None):
            raise UserError(f"{path!r} has a teacher.json that gives its input space: drop --input_range/_mean/_std")
        preprocessing = Preprocessing.from_dict(info["preprocessing"])
    else:
        model, space = input_space.adapt(model, path, input_range, input_mean, input_std)
        preprocessing = space.preprocessing()
        info = {**info, "input_space": space.to_dict()}
    input_shape, num_classes, batchnorm = validate_teacher(model, path, require_batchnorm)
    model.trainable = False
    return Teacher(
        model=model,
        path=path,
        input_shape=input_shape,
        num_classes=num_classes,
        batchnorm_layers=batchnorm,
        outputs_probabilities=_outputs_probabilities(model),
        preprocessing=preprocessing,
        info=info,
        space=space,
    )
