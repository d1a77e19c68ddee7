"""Data-free distillation of a teacher into a smaller float student (DFAD, DAFL, AutoReCon's variant; paper Table 4).

    python tools/distill.py --config configs/distill_fmnist.py:standard \
        --teacher runs/teacher_resnet18_fmnist/teacher.keras \
        --objective=reconstruction --generator=searched --genotype runs/search_resnet18_fmnist/genotype.json \
        --seed 0 --workdir runs/distill_reconstruction_searched_s0

``--objective``: ``adversarial`` (DFAD), ``reconstruction`` (CE + lambda BNS), ``adversarial+reconstruction``,
``dafl``, or ``real`` (real training images: the ceiling, NOT data-free). ``--generator``: ``dfad``
(DFAD's own), ``gdfq``, ``searched`` (needs ``--genotype``). The student is
``--config.student.architecture`` (resnet20, resnet18, mobilenet_v2) at ``--config.student.width``.
Writes ``student.keras``, ``generator.keras``, ``metrics.json`` (teacher and student top-1 on the real
test data, or with ``--eval_data``; else only the fidelity on held-out generated images),
``tensorboard/``, ``checkpoints/`` and, with ``--config.export.kind=float|int8``, ``student.tflite``.
Re-running the same command after a kill resumes from the last finished epoch.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from autorecon_tf import cli, determinism  # noqa: E402
from autorecon_tf.pipelines.distill import GENERATORS, REAL, run_distillation  # noqa: E402
from autorecon_tf.trainers.objectives import OBJECTIVES  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "e.g. configs/distill_fmnist.py:standard")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (student.keras, metrics.json, checkpoints, ...).")
_TEACHER = flags.DEFINE_string("teacher", None, "Teacher .keras file (default: config.teacher).")
_OBJECTIVE = flags.DEFINE_enum(
    "objective", "adversarial", [*OBJECTIVES, REAL], "The generator's objective; real: real images, not data-free."
)
_GENERATOR = flags.DEFINE_enum("generator", "dfad", list(GENERATORS), "searched needs --genotype.")
_GENOTYPE = flags.DEFINE_string("genotype", None, "genotype.json of tools/search.py (with --generator=searched).")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed (student initialisation, generator, latent draws).")
_EVAL_DATA = flags.DEFINE_string(
    "eval_data", None, "Labelled test data: an .npz with x and y, or a folder of class subfolders (optional)."
)
_INPUT_SPACE = cli.define_input_space_flags()


def _result_line(metrics):
    fidelity = metrics["fidelity"]
    if metrics["accuracy_measured"]:
        result = f"student top-1 {100 * metrics['student_top1']:.2f}% (teacher {100 * metrics['teacher_top1']:.2f}%)"
    else:
        result = "accuracy not measured (no --eval_data)"
    name = metrics["objective"] + (f" / {metrics['generator']}" if metrics["generator"] else "")
    return (
        f"{name}: {result}; teacher/student top-1 agreement {100 * fidelity['agreement']:.2f}% on "
        f"{fidelity['images']} held-out {fidelity['source']} images; {metrics['student_parameters']:,} student "
        f"parameters ({metrics['teacher_parameters']:,} teacher); {metrics['wall_time_seconds'] / 60:.1f} min"
    )


def main(argv):
    del argv
    config = cli.require_config_and_workdir(
        _CONFIG.value, _WORKDIR.value, "configs/distill_fmnist.py:standard", "runs/distill_dfad_s0"
    )
    if _GENERATOR.value == "searched" and _OBJECTIVE.value != REAL:
        cli.require_file(_GENOTYPE.value, "--genotype", "give the genotype.json written by tools/search.py")
    teacher_path = _TEACHER.value or config.get("teacher")
    cli.require_file(teacher_path, "--teacher", "train one with tools/train_teacher.py or pass --teacher")
    determinism.configure(_SEED.value, config.deterministic)  # before the teacher starts TensorFlow
    from autorecon_tf.teachers.loader import load_teacher, require_logits

    teacher = load_teacher(teacher_path, **cli.input_space_args(_INPUT_SPACE))
    require_logits(teacher)
    cli.log_config(config)
    print(teacher.summary(), flush=True)
    metrics = run_distillation(
        _OBJECTIVE.value,
        _GENERATOR.value,
        config,
        teacher,
        _SEED.value,
        _WORKDIR.value,
        _GENOTYPE.value,
        eval_data=_EVAL_DATA.value,
    )
    if metrics["export"]:
        export = metrics["export"]
        top1 = "" if export["top1"] is None else f", top-1 {100 * export['top1']:.2f}%"
        print(f"{export['kind']} student.tflite: {export['size_bytes'] / 1024:.1f} KiB{top1}", flush=True)
    print(_result_line(metrics), flush=True)


if __name__ == "__main__":
    cli.run(main)
