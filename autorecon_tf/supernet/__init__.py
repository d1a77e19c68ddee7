"""The stochastic supernet of the generator search: Gumbel-softmax edges over the search space."""

from autorecon_tf.supernet.generator_supernet import GeneratorSupernet
from autorecon_tf.supernet.gumbel import GUMBEL_FORMS, TemperatureSchedule, entropy, gumbel_softmax
from autorecon_tf.supernet.mixed_op import MixedOp

__all__ = ["GUMBEL_FORMS", "GeneratorSupernet", "MixedOp", "TemperatureSchedule", "entropy", "gumbel_softmax"]
