"""AutoReCon stage 1: searches the generator architecture for a teacher and writes genotype.json.

    python tools/search.py --config configs/search_resnet20_fmnist.py:standard \
        --workdir runs/search_resnet20_fmnist [--teacher path/to/teacher.keras] [--strategy mirrored [--cpu_devices 2]]
    TF_CONFIG=... python tools/search.py ... --strategy multiworker   # on every worker (README, "Scaling out")
    python tools/search.py --config configs/search_resnet20_fmnist.py:standard --method=random|bayesian \
        --workdir runs/search_resnet20_fmnist_random   # keras-tuner baselines, same genotype.json hand-off

Writes genotype.json, genotype.png, alphas.png, alpha_history.json, tensorboard/ and
checkpoints/ in --workdir. Re-running the same command after a kill resumes from
the last finished epoch. --method=random|bayesian writes genotype.json, genotype.png,
trials.json (the trial table), tuner.json (the image budget) and keras_tuner/ (keras-tuner's
project, through which a re-run resumes) instead; it runs on one device.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.distribute import define_flags, split_cpu, worker_failures  # noqa: E402
from autorecon_tf.errors import UserError  # noqa: E402
from autorecon_tf.pipelines.search import run_search  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Search config, e.g. configs/search_resnet20_fmnist.py:smoke."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (genotype.json, plots, tensorboard, checkpoints).")
_TEACHER = flags.DEFINE_string("teacher", None, "Teacher .keras/.h5/SavedModel; overrides config.teacher.")
# keras-tuner (and with it Keras 3) is imported only for the tuner methods: gumbel starts as before.
_METHOD = flags.DEFINE_enum(
    "method",
    "gumbel",
    ("gumbel", "random", "bayesian"),
    "gumbel: the supernet search; random|bayesian: keras-tuner over the same genotypes.",
)
_STRATEGY, _CPU_DEVICES, _COLLECTIVE_TIMEOUT = define_flags()
_INPUT_SPACE = cli.define_input_space_flags()


def main(argv):
    del argv
    config = cli.require_config_and_workdir(
        _CONFIG.value, _WORKDIR.value, "configs/search_resnet20_fmnist.py:smoke", "runs/search_resnet20_fmnist"
    )
    teacher = _TEACHER.value or config.teacher
    cli.require_file(teacher, "teacher", "train one with tools/train_teacher.py or pass --teacher")
    cli.log_config(config)
    if _METHOD.value != "gumbel":
        genotype = _tuner_search(config, teacher)
    else:
        genotype = _gumbel_search(config, teacher)
    print("Discovered generator:")
    for edge, op in genotype.edges():
        print(f"  {edge.name:<22} {op}")


def _tuner_search(config, teacher):
    from autorecon_tf.pipelines.tuner_search import run_tuner_search

    if _STRATEGY.value != "default" or _CPU_DEVICES.value:
        raise UserError(f"--method={_METHOD.value} runs on one device: drop --strategy and --cpu_devices")
    return run_tuner_search(config, _WORKDIR.value, _METHOD.value, teacher, cli.input_space_args(_INPUT_SPACE))


def _gumbel_search(config, teacher):
    split_cpu(_CPU_DEVICES.value)
    with worker_failures(_STRATEGY.value, _WORKDIR.value):
        genotype = run_search(
            config,
            _WORKDIR.value,
            teacher,
            _STRATEGY.value,
            cli.input_space_args(_INPUT_SPACE),
            collective_timeout=_COLLECTIVE_TIMEOUT.value,
        )
    return genotype


if __name__ == "__main__":
    cli.run(main)
