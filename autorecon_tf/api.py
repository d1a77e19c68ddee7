"""The Python API, for notebooks: ``autorecon_tf.compress`` and ``autorecon_tf.export_tflite``.

    import autorecon_tf

    model = keras.models.load_model("my_classifier.keras")  # any Keras image classifier with BatchNorm
    student, metrics = autorecon_tf.compress(model, weight_bits=4, activation_bits=4, eval_data=(x_test, y_test))
    report = autorecon_tf.export_tflite(student, "student.tflite", teacher=model, eval_data=(x_test, y_test))

They run the tools' code (``pipelines.compress.run_compression`` and
``export.report.export_loaded``) with the tools' configs: ``budget`` is a preset
of ``configs/compress_resnet20_fmnist.py`` (``smoke``, ``demo``, ``standard``,
``full``), ``overrides`` its dotted keys, or ``config`` a whole ConfigDict. A
``workdir`` makes a run resumable and keeps its artifacts (``student.keras``,
``generator.keras``, ``metrics.json``, TensorBoard logs); without one, a
temporary directory is used. Wrong inputs raise
:class:`~autorecon_tf.errors.UserError` with the one-line message the tools print.
"""

import os
import tempfile

from autorecon_tf import cli
from autorecon_tf.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPRESS_CONFIG = os.path.join(REPO, "configs", "compress_resnet20_fmnist.py")
EXPORT_CONFIG = os.path.join(REPO, "configs", "export_default.py")


def _flag_text(value):
    """``(0, 255)`` -> ``"0,255"``: the API takes numbers where the tools' flags take text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return ",".join(str(float(part)) for part in value)


def _teacher(model, input_range=None, input_mean=None, input_std=None):
    """A loaded :class:`Teacher` from a Keras model, a model file or a Teacher."""
    from autorecon_tf.compat import keras
    from autorecon_tf.teachers.loader import Teacher, in_memory_name, load_teacher, teacher_from_model

    space = dict(
        input_range=_flag_text(input_range), input_mean=_flag_text(input_mean), input_std=_flag_text(input_std)
    )
    if isinstance(model, Teacher):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_teacher(model, **space)
    if not isinstance(model, keras.Model):
        raise UserError(f"model is a {type(model).__name__}: give a Keras classifier (tf_keras Model) or its file path")
    return teacher_from_model(model, in_memory_name(model), {}, True, **space)


def _config(path, budget, config, overrides):
    if config is not None:
        return config
    if not os.path.isfile(path):
        raise UserError(f"{path!r} is missing (an installed package without the checkout's configs/): pass config=")
    try:
        return cli.load_config(path, budget, overrides)
    except ValueError as error:
        raise UserError(f"budget={budget!r}: {error}") from None


def _check_arguments(weight_bits, activation_bits, generator, genotype):
    from autorecon_tf.pipelines.compress import METHODS
    from autorecon_tf.quantization.student import MAX_BITS, MIN_BITS

    for name, bits in (("weight_bits", weight_bits), ("activation_bits", activation_bits)):
        if not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
            raise UserError(f"{name}={bits!r}: give an integer from {MIN_BITS} to {MAX_BITS}")
    if generator not in METHODS:
        raise UserError(f"generator={generator!r}: choose one of {', '.join(METHODS)}")
    if METHODS[generator].needs_genotype:
        cli.require_file(genotype, "genotype", "give the genotype.json written by tools/search.py")


def compress(
    model,
    weight_bits=4,
    activation_bits=4,
    generator="gdfq",
    genotype=None,
    budget="standard",
    eval_data=None,
    workdir=None,
    seed=0,
    input_range=None,
    input_mean=None,
    input_std=None,
    overrides=None,
    config=None,
    log=print,
):
    """Compresses ``model`` data-free to a W/A-bit student; returns ``(student, metrics)``.

    It is long because the keywords are the API: each is passed through, and documented here.

    Args:
      model: a Keras classifier (or its .keras/.h5/SavedModel path); a nested
        ``Sequential`` is flattened, the input space read from its Rescaling/Normalization
        layers or from ``input_range=(lo, hi)`` / ``input_mean``, ``input_std``.
      weight_bits, activation_bits: 3 to 8.
      generator: ``"gdfq"``, ``"searched"`` (with ``genotype``, a genotype.json of the
        search), or a baseline (``"noise"``, ``"zeroq"``; ``"real"`` is not data-free).
      budget: a preset of the compress config; ``overrides``: ``{dotted key: value}``.
      eval_data: labelled test data, ``(x, y)`` or a path (.npz or class folders), in
        the pixels the model takes; None: only the data-free fidelity is measured.
      workdir: where the run's artifacts and checkpoints go (resumable); None: a temp dir.

    Returns:
      The quantized Keras student (it takes the model's input after its preprocessing
      layers, which stay float: ``metrics["input_space"]``) and the metrics dict of
      ``metrics.json``.
    """
    from autorecon_tf.compat import tf
    from autorecon_tf.pipelines.compress import STUDENT_FILE, run_compression
    from autorecon_tf.teachers.loader import load_keras_model, require_logits

    _check_arguments(weight_bits, activation_bits, generator, genotype)
    config = _config(COMPRESS_CONFIG, budget, config, overrides)
    teacher = require_logits(_teacher(model, input_range, input_mean, input_std))
    workdir = workdir or tempfile.mkdtemp(prefix="autorecon_tf_compress_")
    strategy = tf.distribute.get_strategy()
    bits = (weight_bits, activation_bits)
    metrics = run_compression(
        generator, config, teacher, *bits, seed, workdir, strategy, genotype, log=log, eval_data=eval_data
    )
    metrics = {**metrics, "workdir": os.path.abspath(workdir)}
    return load_keras_model(os.path.join(workdir, STUDENT_FILE), what="student"), metrics


def export_tflite(
    student,
    path,
    teacher,
    generator=None,
    eval_data=None,
    input_range=None,
    input_mean=None,
    input_std=None,
    budget="standard",
    overrides=None,
    config=None,
    weights=None,
    raw_pixels=None,
):
    """Writes ``student`` as a fully-integer .tflite at ``path``; returns the export report.

    ``raw_pixels``: the file takes the pixels ``teacher`` takes (e.g. 0..255, float32), its
    preprocessing inside (``export/pixels.py``); False: it takes the student's input, the
    preprocessed pixels; None: the config's ``export.raw_pixels`` (True). ``report["input"]`` says which.

    ``weights``: ``"int4"`` stores the conv/dense filters of a student with weight bits <= 4 as
    packed INT4 (the int8 file stays beside ``path`` as ``<path>_int8.tflite``); None: the config's
    ``export.weights`` (int8).

    ``teacher``: the model it was compressed from (model, path or Teacher; with the same
    ``input_*`` as for :func:`compress`). ``generator``: a generator (model or path, e.g.
    ``<workdir>/generator.keras``) whose images calibrate the export; None: noise.
    ``eval_data``: as for :func:`compress`, for the Keras/LiteRT parity report. Also
    writes ``teacher_float32.tflite`` and ``export_report.json`` beside ``path``.
    """
    from autorecon_tf.export.report import export_loaded
    from autorecon_tf.teachers.loader import load_keras_model
    from autorecon_tf.utils.atomic import write_json

    if not str(path).endswith(".tflite"):
        raise UserError(f"path={path!r} must name a .tflite file to write")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise UserError(f"cannot write {path!r}: {directory!r} is not a writable directory")
    if isinstance(student, (str, os.PathLike)):
        student = load_keras_model(student, what="student")
    if isinstance(generator, (str, os.PathLike)):
        generator = load_keras_model(generator, what="generator")
    config = _config(EXPORT_CONFIG, budget, config, overrides)
    if weights is not None:
        config.export.weights = weights
    if raw_pixels is not None:
        config.export.raw_pixels = bool(raw_pixels)
    report = export_loaded(
        student, _teacher(teacher, input_range, input_mean, input_std), path, config, generator, None, eval_data
    )
    write_json(os.path.join(directory, "export_report.json"), report)
    return report
