"""GDFQ's optimisers, with the step-decay schedule expressed in optimizer steps.

GDFQ (CIFAR, 400 epochs): generator Adam(1e-3, betas 0.5/0.999), student SGD
(Nesterov, momentum 0.9, weight decay 1e-4, lr 1e-4), both multiplied by 0.1 at
epochs 100, 200 and 300, i.e. at 1/4, 2/4 and 3/4 of training. Configs scale the
learning rates and the number of steps to CPU budgets.

Weight decay is Keras' decoupled form (``w -= lr * wd * w`` each step), which
matches PyTorch's coupled SGD weight decay up to its interaction with momentum.
"""

from autorecon_tf.compat import keras
from autorecon_tf.errors import UserError

DEFAULT_MILESTONES = (0.25, 0.5, 0.75)


def step_decay(learning_rate, total_steps, milestones=DEFAULT_MILESTONES, factor=0.1):
    """Piecewise-constant schedule: ``learning_rate * factor**k`` after the k-th milestone fraction."""
    if learning_rate <= 0:
        raise UserError(f"learning rate {learning_rate} must be positive")
    boundaries = sorted({int(round(fraction * total_steps)) for fraction in milestones if 0 < fraction < 1})
    boundaries = [b for b in boundaries if 0 < b < total_steps]
    if not boundaries:
        return float(learning_rate)
    values = [float(learning_rate) * factor**k for k in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def generator_optimizer(learning_rate=1e-3, beta_1=0.5, beta_2=0.999, total_steps=0, milestones=DEFAULT_MILESTONES):
    """Adam for the generator (GDFQ defaults); decays at ``milestones`` of ``total_steps`` if given."""
    schedule = step_decay(learning_rate, total_steps, milestones) if total_steps else learning_rate
    return keras.optimizers.Adam(learning_rate=schedule, beta_1=beta_1, beta_2=beta_2)


def student_optimizer(
    learning_rate=1e-4, momentum=0.9, nesterov=True, weight_decay=1e-4, total_steps=0, milestones=DEFAULT_MILESTONES
):
    """SGD with Nesterov momentum and weight decay for the student (GDFQ defaults)."""
    schedule = step_decay(learning_rate, total_steps, milestones) if total_steps else learning_rate
    return keras.optimizers.SGD(
        learning_rate=schedule, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay or None
    )


def from_config(section, total_steps, kind):
    """Builds the ``kind`` ("generator" or "student") optimiser from a config section."""
    milestones = tuple(section.get("milestones", DEFAULT_MILESTONES))
    if kind == "generator":
        return generator_optimizer(section.learning_rate, section.beta_1, section.beta_2, total_steps, milestones)
    return student_optimizer(
        section.learning_rate, section.momentum, section.nesterov, section.weight_decay, total_steps, milestones
    )
