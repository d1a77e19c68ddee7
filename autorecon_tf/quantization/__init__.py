"""Low-bit quantization through TFMOT: GDFQ's quantizers, placement table, the student API and its report."""

from autorecon_tf.quantization.configs import LayerQuantizeConfig
from autorecon_tf.quantization.quantizers import ActivationQuantizer, WeightQuantizer
from autorecon_tf.quantization.ranges import set_deploy_ranges
from autorecon_tf.quantization.report import QuantizationReport, quantization_report
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

__all__ = [
    "ActivationQuantizer",
    "LayerQuantizeConfig",
    "QuantizationReport",
    "WeightQuantizer",
    "activation_quantizers",
    "activation_ranges",
    "build_student",
    "effective_weights",
    "is_quantized_student",
    "quantization_report",
    "set_deploy_ranges",
    "set_range_update",
    "static_ranges",
    "student_bits",
]
