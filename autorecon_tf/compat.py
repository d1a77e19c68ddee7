"""The one Keras import point of the project.

TFMOT 0.8 works only with Keras 2, which TensorFlow 2.16+ ships as the separate
``tf_keras`` package. Setting ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is
imported makes ``tf.keras`` resolve to the same package, so objects made by
TFMOT and by this project never mix Keras 2 with Keras 3 (which breaks
``quantize_model``). Every other module does ``from autorecon_tf.compat import
keras`` (and ``tf``); ``tests/test_compat.py`` enforces that.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if os.environ["TF_USE_LEGACY_KERAS"] != "1":
    raise ImportError(
        "TF_USE_LEGACY_KERAS is set to "
        f"{os.environ['TF_USE_LEGACY_KERAS']!r}; autorecon_tf needs Keras 2 "
        "(tf_keras) for TFMOT: unset it or set TF_USE_LEGACY_KERAS=1."
    )

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]
