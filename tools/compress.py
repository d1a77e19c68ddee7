"""Stage 2: compresses a teacher to a W/A-bit student, data-free, with a generator or a baseline.

    python tools/compress.py --config configs/compress_resnet20_fmnist.py:standard \
        --teacher runs/teacher_resnet20_fmnist/teacher.keras \
        --generator=searched --genotype runs/search_resnet20_fmnist/genotype.json \
        --weight_bits 4 --activation_bits 4 --seed 0 --workdir runs/compress_w4a4_searched_s0

Any Keras image classifier works as the teacher: without a ``teacher.json`` (our
``tools/train_teacher.py`` writes one) its input space comes from its own
Rescaling/Normalization layers or from ``--input_range`` / ``--input_mean`` and
``--input_std``, and ``--eval_data`` (an .npz with x and y, or a folder of class
folders) is the optional labelled data: without it, only the data-free fidelity
(teacher/student agreement on held-out generated images) is reported.

``--generator``: ``searched`` (needs ``--genotype``), ``gdfq``, or the baselines
``noise``, ``zeroq``, ``real`` (real-data QAT, NOT data-free). Writes
``student.keras`` (load it with ``autorecon_tf.teachers.loader.load_keras_model``),
``metrics.json``, ``tensorboard/`` and ``checkpoints/`` in ``--workdir``.
Re-running the same command after a kill resumes from the last finished epoch.
``--strategy=multiworker``: the same command on every worker, each with its ``TF_CONFIG``
(README, "Scaling out").
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from autorecon_tf import cli, determinism  # noqa: E402
from autorecon_tf.distribute import define_flags, make_strategy, split_cpu, worker_failures  # noqa: E402
from autorecon_tf.pipelines.compress import METHODS, run_compression  # noqa: E402
from autorecon_tf.quantization.report import summary_lines  # noqa: E402
from autorecon_tf.quantization.student import MAX_BITS, MIN_BITS  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "e.g. configs/compress_resnet20_fmnist.py:standard")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory (student.keras, metrics.json, checkpoints, tensorboard)."
)
_TEACHER = flags.DEFINE_string("teacher", None, "Teacher .keras file (default: config.teacher).")
_GENERATOR = flags.DEFINE_enum(
    "generator", "gdfq", list(METHODS), "searched needs --genotype; noise, zeroq, real: baselines."
)
_GENOTYPE = flags.DEFINE_string("genotype", None, "genotype.json of tools/search.py (with --generator=searched).")
_WEIGHT_BITS = flags.DEFINE_integer("weight_bits", 4, "Weight bit width.", lower_bound=MIN_BITS, upper_bound=MAX_BITS)
_ACTIVATION_BITS = flags.DEFINE_integer(
    "activation_bits", 4, "Activation bit width.", lower_bound=MIN_BITS, upper_bound=MAX_BITS
)
_SEED = flags.DEFINE_integer("seed", 0, "Random seed (generator, noise, initialisation).")
_EVAL_DATA = flags.DEFINE_string(
    "eval_data", None, "Labelled test data: an .npz with x and y, or a folder of class subfolders (optional)."
)
_INPUT_SPACE = cli.define_input_space_flags()
_STRATEGY, _CPU_DEVICES, _COLLECTIVE_TIMEOUT = define_flags()


def main(argv):
    del argv
    config = cli.require_config_and_workdir(
        _CONFIG.value, _WORKDIR.value, "configs/compress_resnet20_fmnist.py:standard", "runs/compress_w4a4_gdfq_s0"
    )
    weight_bits, activation_bits, method = _WEIGHT_BITS.value, _ACTIVATION_BITS.value, _GENERATOR.value
    if METHODS[method].needs_genotype:
        cli.require_file(_GENOTYPE.value, "--genotype", "give the genotype.json written by tools/search.py")
    teacher_path = _TEACHER.value or config.get("teacher")
    cli.require_file(teacher_path, "--teacher", "train one with tools/train_teacher.py or pass --teacher")
    split_cpu(_CPU_DEVICES.value)
    determinism.configure(_SEED.value, config.deterministic)  # before the teacher starts TensorFlow
    strategy = make_strategy(_STRATEGY.value, _COLLECTIVE_TIMEOUT.value)
    with worker_failures(_STRATEGY.value, _WORKDIR.value):
        metrics = _compress(config, teacher_path, strategy, method, weight_bits, activation_bits)
    _report(metrics, method, weight_bits, activation_bits)


def _compress(config, teacher_path, strategy, method, weight_bits, activation_bits):
    from autorecon_tf.teachers.loader import load_teacher, require_logits

    with strategy.scope():
        teacher = load_teacher(teacher_path, **cli.input_space_args(_INPUT_SPACE))
    require_logits(teacher)
    cli.log_config(config)
    print(teacher.summary(), flush=True)
    return run_compression(
        method,
        config,
        teacher,
        weight_bits,
        activation_bits,
        _SEED.value,
        _WORKDIR.value,
        strategy,
        _GENOTYPE.value,
        eval_data=_EVAL_DATA.value,
    )


def _report(metrics, method, weight_bits, activation_bits):
    for line in summary_lines(metrics["quantization"]["summary"]):
        print(f"{line} (per layer: metrics.json 'quantization')", flush=True)
    fidelity = metrics["fidelity"]
    if metrics["accuracy_measured"]:
        result = f"student top-1 {100 * metrics['student_top1']:.2f}% (teacher {100 * metrics['teacher_top1']:.2f}%)"
    else:
        result = "accuracy not measured (no --eval_data)"
    print(
        f"{method} W{weight_bits}A{activation_bits}: {result}; teacher/student top-1 agreement "
        f"{100 * fidelity['agreement']:.2f}%, KL {fidelity['kl']:.4f} on {fidelity['images']} held-out "
        f"{fidelity['source']} images; {metrics['images_seen']:,} images, {metrics['wall_time_seconds'] / 60:.1f} min",
        flush=True,
    )


if __name__ == "__main__":
    cli.run(main)
