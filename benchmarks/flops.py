"""Forward FLOPs of a Keras model, from TensorFlow's profiler (shared by the generator benchmarks)."""

from autorecon_tf.compat import tf


def forward_flops(model):
    """FLOPs of ``model(inputs)`` for one sample, from the TF profiler on a frozen concrete function."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec([1, *spec.shape[1:]], spec.dtype) for spec in model.inputs]
    concrete = tf.function(lambda *inputs: model(list(inputs), training=False)).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), options=options)
    return profile.total_float_ops
