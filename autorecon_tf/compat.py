"""The one Keras import point of the project.

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
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

if os.environ["TF_USE_LEGACY_KERAS"] != "1":
    raise ImportError(
        "TF_USE_LEGACY_KERAS is set to "
        f"{os.environ['TF_USE_LEGACY_KERAS']!r}; autorecon_tf needs Keras 2 "
        "(tf_keras) for TFMOT: unset it or set TF_USE_LEGACY_KERAS=1."
    )

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]
