"""The one Keras import point of the project, and TensorFlow's start-up settings.

TFMOT 0.8 works only with Keras 2, which TensorFlow 2.16+ ships as the separate
``tf_keras`` package. Setting ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is
imported makes ``tf.keras`` resolve to the same package, so objects made by
TFMOT and by this project never mix Keras 2 with Keras 3 (which breaks
``quantize_model``). Every other module does ``from autorecon_tf.compat import
keras`` (and ``tf``); ``tests/test_compat.py`` enforces that.

It also turns on TensorFlow's oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS=1``) unless
the caller set the variable. TensorFlow enables them by default only on CPUs with
AVX-512 or AMX; on the project's 2-core AVX2 machines they halve a ResNet-20 train
step, mostly in the convolution backward pass (BENCHMARKS.md, "Machine speed").
TensorFlow reads the variable when it is imported, so ``autorecon_tf/__init__.py``
imports this module first. Set ``TF_ENABLE_ONEDNN_OPTS=0`` to compare.

One oneDNN bug is sidestepped (:func:`sidestep_onednn_strided_1x1_bug`): on a CPU with
AVX2 but no AVX-512, run on one intra-op thread (``config.deterministic=True``), the
filter gradient of a 1x1 stride-2 convolution on fewer than 8 input channels writes past
its buffer and the process dies of heap corruption (TensorFlow 2.21; measured on AMD EPYC
family 25 model 1; BUILD.md, "Scaling out").

A quiet start. TensorFlow 2.21 writes its C++ start-up lines (``oneDNN custom
operations are on``, ``Could not find cuda drivers``, ``failed call to cuInit``,
``All log messages before absl::InitializeLog() ...``) straight to file
descriptor 2, before its logging is set up, whatever ``TF_CPP_MIN_LOG_LEVEL``
says. On a CPU-only tool a newcomer reads them as failures. So, unless TensorFlow's
logging is wanted (:func:`tensorflow_logs_wanted`), the import and the device
discovery run with file descriptor 2 pointed at /dev/null (Python exceptions
still propagate and print afterwards), and TensorFlow's Python logger is set to
errors only. ``AUTORECON_TF_VERBOSE=1``, or absl's own ``--verbosity=0`` (INFO) or
higher on a tool's command line, brings all of it back.
"""

import contextlib
import os
import sys

from absl import logging

from autorecon_tf.utils.machine import cpu_flags

VERBOSE_ENV = "AUTORECON_TF_VERBOSE"

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

if os.environ["TF_USE_LEGACY_KERAS"] != "1":
    raise ImportError(
        "TF_USE_LEGACY_KERAS is set to "
        f"{os.environ['TF_USE_LEGACY_KERAS']!r}; autorecon_tf needs Keras 2 "
        "(tf_keras) for TFMOT: unset it or set TF_USE_LEGACY_KERAS=1."
    )


def _verbosity_argument(argv):
    """The value of absl's ``--verbosity``/``-v`` in ``argv`` (the last one given), else None."""
    value = None
    for index, arg in enumerate(argv):
        for name in ("--verbosity", "-v"):
            if arg.startswith(name + "="):
                value = arg[len(name) + 1 :]
            elif arg == name and index + 1 < len(argv):
                value = argv[index + 1]
    return value


def tensorflow_logs_wanted(argv=None, environ=None):
    """True if the user asked for TensorFlow's own logging (see the module docstring)."""
    environ = os.environ if environ is None else environ
    if environ.get(VERBOSE_ENV, "0") not in ("", "0"):
        return True
    value = _verbosity_argument(list(sys.argv[1:] if argv is None else argv))
    try:
        return value is not None and int(value) >= 0
    except ValueError:
        return value.lower() in ("info", "debug")  # absl also takes level names


@contextlib.contextmanager
def native_logs_silenced(enabled=None):
    """Within the block, TensorFlow's native (C++) lines on file descriptor 2 go to /dev/null when quiet.

    The TFLite converter prints its MLIR quantizer settings there on every conversion.
    """
    if not (QUIET if enabled is None else enabled):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


QUIET = not tensorflow_logs_wanted()

with native_logs_silenced(QUIET):
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

    tf.config.list_physical_devices()  # device discovery (the CUDA probe) logs here, once
    # The layer a TF op on a symbolic tensor becomes (keras.applications' hard-sigmoid is
    # ``ReLU(6.)(x + 3.) * (1 / 6)``): tf_keras does not export it, the quantization scheme names it.
    from tf_keras.src.layers.core.tf_op_layer import TFOpLambda  # noqa: E402

if QUIET:
    tf.get_logger().setLevel("ERROR")

ISA_ENV = "ONEDNN_MAX_CPU_ISA"


def strided_1x1_hazards(model):
    """The names of ``model``'s (nested included) 1x1 strided Conv2D layers on fewer than 8 input channels."""
    names = []
    for layer in [model, *model.submodules]:
        if not isinstance(layer, keras.layers.Conv2D) or isinstance(layer, keras.layers.Conv2DTranspose):
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        if tuple(layer.kernel_size) == (1, 1) and max(layer.strides) > 1 and int(kernel.shape[2]) < 8:
            names.append(layer.name)
    return names


def _one_intra_op_thread():
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    return threads == 1 or (threads == 0 and os.cpu_count() == 1)


def sidestep_onednn_strided_1x1_bug(model, environ=None, flags=None, one_thread=None):
    """Caps oneDNN at AVX (``ONEDNN_MAX_CPU_ISA=AVX``) where ``model`` would hit the bug above; returns the layers.

    It acts only when every condition holds: oneDNN on, the CPU has AVX2 and no AVX-512, one
    intra-op thread, ``ONEDNN_MAX_CPU_ISA`` unset, and ``model`` has such a layer. oneDNN
    reads the cap when it makes its first kernel, so the loaders call this before the model
    runs; it warns once. The cap costs about 1.9x a deterministic compress step (BUILD.md,
    "Scaling out"); the alternatives are ``config.deterministic=False`` or ``TF_ENABLE_ONEDNN_OPTS=0``.
    """
    environ = os.environ if environ is None else environ
    flags = cpu_flags() if flags is None else flags
    one_thread = _one_intra_op_thread() if one_thread is None else one_thread
    if environ.get("TF_ENABLE_ONEDNN_OPTS") != "1" or ISA_ENV in environ or not one_thread:
        return []
    if "avx2" not in flags or "avx512f" in flags:
        return []
    names = strided_1x1_hazards(model)
    if names:
        environ[ISA_ENV] = "AVX"
        logging.warning(
            f"{model.name}: layer {names[0]!r} is a strided 1x1 convolution on fewer than 8 channels; on one "
            "thread oneDNN's AVX2 kernel for its gradient corrupts memory (TensorFlow 2.21), so this run "
            f"uses oneDNN's AVX kernels ({ISA_ENV}=AVX, slower)"
        )
    return names


__all__ = ["TFOpLambda", "keras", "sidestep_onednn_strided_1x1_bug", "tf"]
