"""The README's main job: the whole pipeline on the default teacher, ending in one result table.

    python tools/demo.py --workdir runs/demo        (what `make demo` runs)

Stages, each resumable and skipped when already done:
1. teacher: reuses runs/teacher_resnet20_fmnist (the standard ResNet-20) when it
   has finished, else trains the `demo` preset of configs/teacher_resnet20_fmnist.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.teachers import training  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "Where the demo writes everything.")
_STANDARD_TEACHER = flags.DEFINE_string(
    "standard_teacher", "runs/teacher_resnet20_fmnist", "A finished standard teacher run to reuse, if present."
)


def _load_config(preset):
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "teacher_resnet20_fmnist.py")
    spec = importlib.util.spec_from_file_location("teacher_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(preset)


def teacher_stage(workdir):
    """Returns (teacher directory, record)."""
    standard = _STANDARD_TEACHER.value
    record = training.finished_record(_load_config("standard"), standard)
    if record is not None:
        print(f"[teacher] reusing the standard teacher in {standard}", flush=True)
        return standard, record
    directory = os.path.join(workdir, "teacher")
    config = _load_config("demo")
    record = training.finished_record(config, directory)
    if record is None:
        print(f"[teacher] training the demo teacher in {directory}", flush=True)
        record = training.train_teacher(config, directory)
    return directory, record


def main(argv):
    del argv
    workdir = _WORKDIR.value
    os.makedirs(workdir, exist_ok=True)
    _, record = teacher_stage(workdir)
    rows = [("teacher (float32, Keras)", f"{100 * record['test_top1']:.2f}%")]
    width = max(len(name) for name, _ in rows)
    print("\n" + "result".ljust(width) + " | test top-1")
    print("-" * width + "-+-----------")
    for name, value in rows:
        print(name.ljust(width) + " | " + value)


if __name__ == "__main__":
    cli.run(main)
