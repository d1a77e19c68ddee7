"""Low-bit quantization through TFMOT: GDFQ's quantizers, placement table and the student API."""

from autorecon_tf.quantization.configs import LayerQuantizeConfig
from autorecon_tf.quantization.quantizers import ActivationQuantizer, WeightQuantizer
from autorecon_tf.quantization.ranges import set_deploy_ranges
from autorecon_tf.quantization.student import (
    activation_quantizers,
    activation_ranges,
    build_student,
    effective_weights,
    is_quantized_student,
    set_range_update,
    static_ranges,
    student_bits,
)


def custom_objects():
    """The custom classes a saved student needs; pass to ``quantize_scope``."""
    return {
        "WeightQuantizer": WeightQuantizer,
        "ActivationQuantizer": ActivationQuantizer,
        "LayerQuantizeConfig": LayerQuantizeConfig,
        "autorecon_tf>WeightQuantizer": WeightQuantizer,
        "autorecon_tf>ActivationQuantizer": ActivationQuantizer,
        "autorecon_tf>LayerQuantizeConfig": LayerQuantizeConfig,
    }


__all__ = [
    "ActivationQuantizer",
    "LayerQuantizeConfig",
    "WeightQuantizer",
    "activation_quantizers",
    "activation_ranges",
    "build_student",
    "custom_objects",
    "effective_weights",
    "is_quantized_student",
    "set_deploy_ranges",
    "set_range_update",
    "static_ranges",
    "student_bits",
]
