"""Throughput of the stage-1 search step: search steps/s and generated images/s at the default batch size.

    python benchmarks/bench_search.py [--preset standard] [--batch_size N] [--steps 10] [--teacher path.keras]
    python benchmarks/bench_search.py --tiny --steps 2     # an 8x8 check that the script runs, in seconds

One search step = T1 supernet-weight steps + V1 architecture steps, each on its
own batch of generated images, so images/s = steps/s * batch * (T1 + V1). The
teacher is ``--teacher`` if given, else a random-weight ResNet-20 on 32x32x1
inputs (the default teacher's shape: speed does not depend on its weights).
The supernet widths, batch size and T1:V1 come from
configs/search_resnet20_fmnist.py at ``--preset``. Tracing time (the first
step) is reported separately. Prints one JSON line. A benchmark, not a test:
it never asserts a time; on a shared machine read the CPU seconds and the load
average next to the wall-clock rates.
"""

import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.compat import keras  # noqa: E402
from autorecon_tf.pipelines.search import build_search  # noqa: E402
from autorecon_tf.teachers.loader import Teacher, load_teacher  # noqa: E402
from autorecon_tf.teachers.resnet20 import build_resnet20  # noqa: E402
from autorecon_tf.trainers.search_trainer import search_noise_dataset  # noqa: E402


def _random_teacher(shape, tiny):
    options = {"width_multiplier": 0.25, "blocks_per_stage": 1} if tiny else {}
    model = build_resnet20(shape, 10, **options)
    model.trainable = False
    return Teacher(model, "<random resnet20>", shape, 10, [], False, None, {})


flags.DEFINE_string("preset", "standard", "Preset of configs/search_resnet20_fmnist.py.")
flags.DEFINE_integer("batch_size", 0, "0: the preset's batch size.")
flags.DEFINE_integer("steps", 10, "Timed search steps.")
flags.DEFINE_string("teacher", None, "Teacher .keras (default: a random-weight ResNet-20).")
flags.DEFINE_bool("tiny", False, "8x8 teacher, batch 8, narrow supernet.")


def main(argv):
    del argv
    args = flags.FLAGS  # the flags above, read as args.<name>

    config = cli.load_config(os.path.join(REPO, "configs", "search_resnet20_fmnist.py"), args.preset)
    if args.tiny:
        config.supernet.channels, config.search.batch_size, config.supernet.latent_dim = (4, 4, 4), 8, 8
    if args.batch_size:
        config.search.batch_size = args.batch_size
    keras.utils.set_random_seed(0)
    teacher = (
        load_teacher(args.teacher)
        if args.teacher
        else _random_teacher((8, 8, 1) if args.tiny else (32, 32, 1), args.tiny)
    )
    _, trainer = build_search(config, teacher)
    search = config.search
    iterator = iter(
        search_noise_dataset(
            search.batch_size, config.supernet.latent_dim, teacher.num_classes, search.weight_steps, search.arch_steps
        )
    )
    step = trainer.make_train_function(force=True)
    start = time.perf_counter()
    step(iterator)
    trace_seconds = time.perf_counter() - start
    step(iterator)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        logs = step(iterator)
    float(logs["reconstruction"])  # wait for the last step
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    images_per_step = search.batch_size * (search.weight_steps + search.arch_steps)
    print(
        json.dumps(
            {
                "benchmark": "search_step",
                "teacher": args.teacher or "random resnet20",
                "input_shape": list(teacher.input_shape),
                "batch_size": search.batch_size,
                "weight_steps": search.weight_steps,
                "arch_steps": search.arch_steps,
                "supernet_channels": list(config.supernet.channels),
                "steps_timed": args.steps,
                "first_step_seconds_with_tracing": round(trace_seconds, 2),
                "seconds_per_step": round(wall / args.steps, 4),
                "search_steps_per_second": round(args.steps / wall, 4),
                "generated_images_per_second": round(args.steps * images_per_step / wall, 2),
                "cpu_seconds_per_step": round(cpu / args.steps, 4),
                "load_average_1min": os.getloadavg()[0],
                "cpu_count": os.cpu_count(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    cli.run(main)
