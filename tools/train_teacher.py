"""Trains a teacher classifier on real data and writes teacher.keras + teacher.json.

    python tools/train_teacher.py --config configs/teacher_resnet20_fmnist.py:standard \
        --workdir runs/teacher_resnet20_fmnist

Re-running the same command after a kill resumes from the last finished epoch;
re-running after it finished reuses the teacher (unless --retrain). ``--strategy=mirrored``
trains on all local devices, ``--strategy=multiworker`` on ``TF_CONFIG``'s cluster (README, "Scaling out").
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.distribute import define_flags, split_cpu, worker_failures  # noqa: E402
from autorecon_tf.pipelines.teacher import finished_record, train_teacher  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Teacher config file, e.g. configs/teacher_resnet20_fmnist.py:standard."
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory (teacher.keras, teacher.json, checkpoints, tensorboard)."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Overrides config.data_dir (the Fashion-MNIST IDX directory).")
_RETRAIN = flags.DEFINE_bool(
    "retrain", False, "Train again even if the workdir holds a finished teacher of this config."
)
_STRATEGY, _CPU_DEVICES, _COLLECTIVE_TIMEOUT = define_flags()


def main(argv):
    del argv
    config = cli.require_config_and_workdir(
        _CONFIG.value, _WORKDIR.value, "configs/teacher_resnet20_fmnist.py:standard", "runs/teacher_resnet20_fmnist"
    )
    if _DATA_DIR.value:
        config.data_dir = _DATA_DIR.value
    record = None if _RETRAIN.value else finished_record(config, _WORKDIR.value)
    if record is not None:
        print(f"Reusing the finished teacher in {_WORKDIR.value}", flush=True)
    else:
        split_cpu(_CPU_DEVICES.value)
        with worker_failures(_STRATEGY.value, _WORKDIR.value):
            record = train_teacher(config, _WORKDIR.value, _STRATEGY.value, _COLLECTIVE_TIMEOUT.value)
    print(
        f"Teacher {record['architecture']} on {record['dataset']}: test top-1 {100 * record['test_top1']:.2f}%, "
        f"top-5 {100 * record['test_top5']:.2f}% ({record['epochs']} epochs, {record['wall_time_seconds'] / 60:.1f} min)"
    )


if __name__ == "__main__":
    cli.run(main)
