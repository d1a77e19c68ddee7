"""Generators G(z, y) -> images in the teacher's normalised input space.

- ``from_genotype``: the generator discovered by the search, built from its genotype (built-in layers only);
- ``gdfq``: GDFQ's human-designed generator, with its ``ClassConditionalAffine`` layer;
- ``upsample_conv``: its fused nearest-upsample + conv layer, ``NearestUpsampleConv2D``.

Custom layers are registered with ``keras.saving.register_keras_serializable(package="autorecon_tf")``
when their module is imported; ``teachers.loader.SERIALIZABLE_MODULES`` lists those modules, so
``load_keras_model`` loads any saved generator. Keep this file free of imports: ``import
autorecon_tf.generators.gdfq`` should not build the other modules.
"""
