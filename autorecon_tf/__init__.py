"""autorecon_tf: data-free low-bit compression of Keras classifiers with a searched generator."""

# First, so that TensorFlow is configured (Keras 2, oneDNN) before any submodule imports it.
from autorecon_tf import compat  # noqa: F401

__version__ = "0.1.0"

_API = ("compress", "export_tflite")


def __getattr__(name):
    """``autorecon_tf.compress`` and ``autorecon_tf.export_tflite`` (:mod:`autorecon_tf.api`), imported on first use."""
    if name in _API:
        from autorecon_tf import api

        return getattr(api, name)
    raise AttributeError(f"module 'autorecon_tf' has no attribute {name!r}")
