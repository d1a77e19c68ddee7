"""Generators G(z, y) -> images in the teacher's normalised input space.

A shared registry for the generator modules:

- ``GENERATOR_MODULES`` lists every module of this package that defines
  generator layers; each has a ``custom_objects()`` function. Add a module
  here when you add one (keep this file small: no heavy imports at top level).
- :func:`custom_objects` merges them, so ``teachers.loader.load_keras_model``
  can load any saved generator.
"""

import importlib

GENERATOR_MODULES = (
    "autorecon_tf.generators.from_genotype",  # the generator discovered by the search
    "autorecon_tf.generators.gdfq",  # GDFQ's human-designed generator
    "autorecon_tf.generators.upsample_conv",  # its fused nearest-upsample + conv layer
)


def custom_objects():
    """Custom layer classes of every generator module, by registered and plain name."""
    objects = {}
    for module_name in GENERATOR_MODULES:
        objects.update(importlib.import_module(module_name).custom_objects())
    return objects
