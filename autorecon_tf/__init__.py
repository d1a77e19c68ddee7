"""autorecon_tf: data-free low-bit compression of Keras classifiers with a searched generator."""

# First, so that TensorFlow is configured (Keras 2, oneDNN) before any submodule imports it.
from autorecon_tf import compat  # noqa: F401

__version__ = "0.1.0"
