"""autorecon_tf: data-free low-bit compression of Keras classifiers with a searched generator."""

__version__ = "0.1.0"
