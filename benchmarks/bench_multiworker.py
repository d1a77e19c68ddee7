"""Multi-worker overhead on one machine: compress images/s of one process on 2 cores vs 2 workers x 1 core.

    python benchmarks/bench_multiworker.py [--steps_per_epoch 20] [--epochs 3] [--batch_size 64]
    python benchmarks/bench_multiworker.py --tiny     # a check that the script runs (minutes), records nothing

Runs the user's command, ``tools/compress.py`` (gdfq, W4A4) on a random-weight ResNet-20
teacher (32x32x1; speed does not depend on its weights), the same global batch in each setting:

- ``one process, 2 cores``: ``--strategy=default`` with the whole machine;
- ``2 workers x 1 core``: ``--strategy=multiworker``, two processes on 127.0.0.1, each pinned
  to one core (``os.sched_setaffinity``) with one CPU device, each computing half of every batch
  and all-reducing the gradients over gRPC.

Images/s is the global batch times the steps of an epoch over the median epoch time of the
epochs after the first (which traces), read from the chief's ``progress.json``. On one 2-core
machine the workers cannot be faster: the figure is the cost of the collectives and of a
per-worker batch half as large, not a speed-up. Records ``multiworker_scaling`` (report.py).
A benchmark, not a test: it never asserts a time.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.distribute import local_workers, tf_config  # noqa: E402
from benchmarks.report import record  # noqa: E402

flags.DEFINE_integer("batch_size", 64, "Global batch size (each of the 2 workers computes half).")
flags.DEFINE_integer("steps_per_epoch", 20, "Steps per epoch.")
flags.DEFINE_integer("epochs", 3, "Epochs (1 warm-up); the first is not timed (tracing).")
flags.DEFINE_bool("tiny", False, "8x8 teacher, batch 8, 2 steps x 2 epochs: checks that the script runs.")

CONFIG = os.path.join(REPO, "configs", "compress_resnet20_fmnist.py")
COLUMNS = ("setting", "processes", "cores each", "global batch", "images/s", "relative")


def _teacher(directory, tiny):
    """A random-weight ResNet-20 with a teacher.json of identity preprocessing (no dataset: no test accuracy)."""
    from autorecon_tf.teachers.resnet20 import build_resnet20

    shape = (8, 8, 1) if tiny else (32, 32, 1)
    options = {"width_multiplier": 0.25, "blocks_per_stage": 1} if tiny else {}
    path = os.path.join(directory, "teacher.keras")
    build_resnet20(shape, 10, **options).save(path)
    record = {"preprocessing": {"mean": [0.0], "std": [1.0], "pad_to": 0}}
    with open(os.path.join(directory, "teacher.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    return path


def _command(teacher, workdir, args, *extra):
    budget = {
        "batch_size": args.batch_size,
        "steps_per_epoch": args.steps_per_epoch,
        "epochs": args.epochs,
        "warmup_epochs": 1,
    }
    if args.tiny:
        budget.update({"generator.latent_dim": 8, "generator.channel_scale": 0.125})
    overrides = [f"--config.{key}={value}" for key, value in budget.items()]
    tool = os.path.join(REPO, "tools", "compress.py")
    return [sys.executable, tool, f"--config={CONFIG}:smoke", f"--teacher={teacher}", f"--workdir={workdir}"] + [
        *overrides,
        *extra,
    ]


def _pinned(cores):
    return lambda: os.sched_setaffinity(0, cores)


def _run(commands, envs, cores, directory):
    """Runs the commands side by side, each on its ``cores``; raises if one fails (stderr in files: no pipe fills)."""
    processes = []
    for index, (command, env, core) in enumerate(zip(commands, envs, cores)):
        with open(os.path.join(directory, f"stderr{index}.log"), "w", encoding="utf-8") as err:
            processes.append(
                subprocess.Popen(
                    command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_pinned(core)
                )
            )
    for index, process in enumerate(processes):
        if process.wait():
            with open(os.path.join(directory, f"stderr{index}.log"), encoding="utf-8") as err:
                raise RuntimeError(f"{' '.join(process.args[:2])} failed ({process.returncode}): {err.read()[-2000:]}")


def _images_per_second(workdir, args):
    with open(os.path.join(workdir, "progress.json"), encoding="utf-8") as handle:
        seconds = json.load(handle)["epoch_seconds"][1:]  # the first epoch traces
    return args.batch_size * args.steps_per_epoch / statistics.median(seconds)


def measure(teacher, directory, args):
    """The two settings' rows."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    all_cores = sorted(os.sched_getaffinity(0))[:2]
    one = os.path.join(directory, "one_process")
    _run([_command(teacher, one, args)], [env], [all_cores], directory)
    workers = local_workers(2)
    two = os.path.join(directory, "two_workers")
    command = _command(teacher, two, args, "--strategy=multiworker")
    envs = [{**env, "TF_CONFIG": tf_config(workers, index)} for index in range(2)]
    _run([command, command], envs, [[all_cores[0]], [all_cores[-1]]], directory)
    base = _images_per_second(one, args)
    rows = [
        {"setting": "one process, 2 cores", "processes": 1, "cores each": len(all_cores), "images/s": base},
        {"setting": "2 workers x 1 core (gRPC all-reduce)", "processes": 2, "cores each": 1},
    ]
    rows[1]["images/s"] = _images_per_second(two, args)
    for row in rows:
        row["global batch"], row["relative"] = args.batch_size, row["images/s"] / base
    return rows


def main(argv):
    del argv
    args = flags.FLAGS
    if args.tiny:
        args.batch_size, args.steps_per_epoch, args.epochs = 8, 2, 2
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench_multiworker_") as directory:
        rows = measure(_teacher(directory, args.tiny), directory, args)
    print(json.dumps({"rows": rows, "seconds": round(time.time() - started, 1)}), flush=True)
    if args.tiny:
        return  # a check that the script runs: tiny numbers are not recorded
    notes = (
        "Two workers on one 2-core machine cannot be faster than one process using both cores: the row shows "
        "the overhead of the per-step gradient all-reduce over gRPC and of half-size per-worker batches. "
        f"Load average at the end: {os.getloadavg()[0]:.1f}."
    )
    record("multiworker_scaling", rows, COLUMNS, notes)


if __name__ == "__main__":
    cli.run(main)
