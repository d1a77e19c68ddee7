"""The teacher zoo: architecture name -> builder(input_shape, num_classes, **options)."""

from autorecon_tf.errors import UserError
from autorecon_tf.teachers.mobilenet_v2 import build_mobilenet_v2
from autorecon_tf.teachers.resnet18 import build_resnet18
from autorecon_tf.teachers.resnet20 import build_resnet20

TEACHERS = {
    "resnet20": build_resnet20,
    "resnet18": build_resnet18,
    "mobilenet_v2": build_mobilenet_v2,
}

# The option of each architecture that scales its channels (a student "chosen by name and width").
WIDTH_OPTIONS = {"resnet20": "width_multiplier", "resnet18": "width_multiplier", "mobilenet_v2": "alpha"}


def build_teacher(name, input_shape, num_classes, **options):
    """Builds an untrained teacher by registry name."""
    if name not in TEACHERS:
        raise UserError(f"unknown teacher architecture {name!r}; choose one of {sorted(TEACHERS)}")
    try:
        return TEACHERS[name](tuple(input_shape), int(num_classes), **options)
    except TypeError as error:
        raise UserError(f"bad options {options} for teacher {name!r}: {error}") from error
