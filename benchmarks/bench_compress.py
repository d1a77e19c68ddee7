"""Throughput of the stage-2 compress step: generated images/s at batch 128, and peak memory.

    python benchmarks/bench_compress.py [--batch_size 128] [--steps 20] [--weight_bits 4] [--activation_bits 4]
        [--torch_python .venv-torch/bin/python] [--also_without_onednn] [--deterministic | --also_deterministic]

A random-weight ResNet-20 teacher on 32x32x1 inputs, GDFQ's generator and the
W4A4 GDFQ-scheme student. Times ``--steps`` joint iterations (generator step +
student step) after ``--warmup_steps`` untimed ones (tracing), plus the
warm-up-phase step. Prints one JSON object. A benchmark, not a test: it never
asserts a time. On a shared machine read ``*_cpu_seconds_per_step`` and the
load average too: wall-clock rates drop with the load of other processes. The
script also times a plain ResNet-20 train step and reports the compress step
relative to it (a ratio measured in the same run). Reference on this 2-core CPU: the official PyTorch GDFQ runs
80-84 images/s at batch 128 (the developers' guide). With ``--torch_python`` (a Python
with torch: ``bash tools/bootstrap_torch.sh`` makes ``.venv-torch``) the same run then
times ``benchmarks/torch_gdfq_step.py``, a re-implementation of the official GDFQ
iteration, on the same shapes, and records both rates and their ratio. With
``--also_deterministic`` the same timing runs again in a child process with
``autorecon_tf.determinism.configure(seed, True)`` (op determinism, one thread, no AddN rewrite),
and the record gives both rates and their ratio (the cost of determinism).
"""

import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from autorecon_tf import cli, determinism  # noqa: E402
from autorecon_tf.compat import keras, tf  # noqa: E402
from autorecon_tf.generators.gdfq import build_gdfq_generator  # noqa: E402
from autorecon_tf.quantization import build_student  # noqa: E402
from autorecon_tf.teachers.resnet20 import build_resnet20  # noqa: E402
from autorecon_tf.trainers import optimizers  # noqa: E402
from autorecon_tf.trainers.compress_trainer import CompressTrainer, latent_dataset  # noqa: E402
from benchmarks.report import onednn_enabled, record  # noqa: E402


def _peak_rss_mb():
    try:
        import psutil

        info = psutil.Process().memory_full_info()
        current = info.rss / 2**20
    except (ImportError, AttributeError, OSError):
        current = None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return peak, current


def _time_steps(trainer, iterator, steps):
    step = trainer.make_train_function(force=True)
    for _ in range(2):
        step(iterator)  # trace + first runs, untimed
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        logs = step(iterator)
    float(logs["generator_loss"])  # wait for the last step
    return time.perf_counter() - start, time.process_time() - cpu_start


def _plain_step_seconds(batch_size, steps):
    """A plain ResNet-20 train step (fit on random data): a yardstick for the machine's current speed."""
    model = build_resnet20((32, 32, 1), 10)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    images = tf.random.normal([batch_size, 32, 32, 1])
    labels = tf.zeros([batch_size], tf.int32)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


flags.DEFINE_integer("batch_size", 128, "Generated images per step.")
flags.DEFINE_integer("steps", 20, "Timed steps per phase.")
flags.DEFINE_integer("weight_bits", 4, "Student weight bit width.")
flags.DEFINE_integer("activation_bits", 4, "Student activation bit width.")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_string("torch_python", "", "A Python with torch: also time the PyTorch GDFQ step.")
flags.DEFINE_bool(
    "also_without_onednn",
    False,
    "Also time the TF step in a child process with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's default here).",
)
flags.DEFINE_bool("deterministic", False, "Time the step with determinism.configure(0, True).")
flags.DEFINE_bool("also_deterministic", False, "Also time the step deterministically, in a child process.")
flags.DEFINE_bool("json_only", False, "Print the JSON, do not touch BENCHMARKS.md.")


def main(argv):
    del argv
    args = flags.FLAGS  # the flags above, read as args.<name>

    facts = determinism.configure(0, args.deterministic)
    teacher = build_resnet20((32, 32, 1), 10)
    teacher.trainable = False
    generator = build_gdfq_generator((32, 32, 1), 10)
    student = build_student(teacher, args.weight_bits, args.activation_bits)
    trainer = CompressTrainer(generator, teacher, student)
    trainer.compile(
        generator_optimizer=optimizers.generator_optimizer(),
        student_optimizer=optimizers.student_optimizer(),
        jit_compile=args.jit_compile,
    )
    iterator = iter(latent_dataset(args.batch_size, 100, 10))
    results = {}
    for phase, warmup in (("warmup", True), ("joint", False)):
        trainer.warmup = warmup
        seconds, cpu_seconds = _time_steps(trainer, iterator, args.steps)
        results[f"{phase}_seconds_per_step"] = seconds / args.steps
        results[f"{phase}_cpu_seconds_per_step"] = cpu_seconds / args.steps
        results[f"{phase}_images_per_second"] = args.batch_size * args.steps / seconds
    plain = _plain_step_seconds(args.batch_size, args.steps)
    results["plain_resnet20_train_step_seconds"] = plain
    # The TF prototype ran 0.85-0.91 s per GDFQ iteration where this plain step took 0.19 s.
    results["joint_step_over_plain_step"] = results["joint_seconds_per_step"] / plain
    peak, current = _peak_rss_mb()
    results.update(
        {
            "batch_size": args.batch_size,
            "steps": args.steps,
            "weight_bits": args.weight_bits,
            "activation_bits": args.activation_bits,
            "jit_compile": args.jit_compile,
            "teacher": "resnet20 32x32x1 random weights",
            "generator": "gdfq s=1",
            "peak_rss_mb": peak,
            "rss_mb_at_end": current,
            "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__,
            "onednn": onednn_enabled(),
            "load_average_1min_at_end": os.getloadavg()[0],
            "deterministic": facts["deterministic"],
            "cpu": facts["cpu"],
        }
    )
    columns = ["onednn", "deterministic"]
    if args.json_only:
        print(json.dumps(results, sort_keys=True))
        return
    if args.also_without_onednn:
        off = _without_onednn(args)
        results["onednn_off_joint_images_per_second"] = off["joint_images_per_second"]
        results["onednn_off_plain_resnet20_train_step_seconds"] = off["plain_resnet20_train_step_seconds"]
        results["onednn_speedup_joint"] = results["joint_images_per_second"] / off["joint_images_per_second"]
        columns += ["onednn_off_joint_images_per_second", "onednn_speedup_joint"]
    if args.also_deterministic:
        on = _child_timing(args, ["--deterministic"])
        results["deterministic_joint_images_per_second"] = on["joint_images_per_second"]
        results["deterministic_warmup_images_per_second"] = on["warmup_images_per_second"]
        results["deterministic_over_default_joint"] = on["joint_images_per_second"] / results["joint_images_per_second"]
        columns += ["deterministic_joint_images_per_second", "deterministic_over_default_joint"]
    if args.torch_python:
        torch = _torch_step(args)
        results.update({f"torch_{key}": value for key, value in torch.items()})
        results["tf_over_torch_joint_images_per_second"] = (
            results["joint_images_per_second"] / torch["joint_images_per_second"]
        )
        columns += ["torch_joint_images_per_second", "tf_over_torch_joint_images_per_second", "torch_threads"]
    print(json.dumps(results, indent=2, sort_keys=True))
    record(
        "compress_step",
        [results],
        [
            "batch_size",
            "weight_bits",
            "activation_bits",
            "warmup_images_per_second",
            "joint_images_per_second",
            "joint_seconds_per_step",
            "plain_resnet20_train_step_seconds",
            "joint_step_over_plain_step",
            *columns,
            "peak_rss_mb",
            "load_average_1min_at_end",
        ],
        notes="Speed target: at least 1.5x the official PyTorch GDFQ figure of 80-84 images/s (>= 125 images/s). "
        "joint = generator step + student step on one generated batch. torch_*: "
        "benchmarks/torch_gdfq_step.py (the official GDFQ iteration re-implemented in PyTorch) "
        "on the same shapes, run right after the TF timing. onednn: whether TensorFlow's oneDNN kernels ran "
        "(autorecon_tf.compat turns them on); onednn_off_*: the same TF step in a child process with "
        "TF_ENABLE_ONEDNN_OPTS=0, TensorFlow's default on the AMD EPYC (AVX2) of sessions 1-8.",
    )


def _shape_flags(args):
    """The flags that make a child timing run on this run's shapes, steps and bits."""
    return [
        "--batch_size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--weight_bits",
        str(args.weight_bits),
        "--activation_bits",
        str(args.activation_bits),
    ]


def _child_timing(args, extra=(), environment=None):
    """This benchmark's TF timing in a child process (settings read at start-up); its JSON."""
    command = [sys.executable, os.path.abspath(__file__), "--json_only", *_shape_flags(args), *extra]
    environment = {**os.environ, **(environment or {})}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
    return json.loads(output.strip().splitlines()[-1])


def _without_onednn(args):
    """The TF timing with oneDNN off (the env var is read at import)."""
    return _child_timing(args, environment={"TF_ENABLE_ONEDNN_OPTS": "0"})


def _torch_step(args):
    """Runs benchmarks/torch_gdfq_step.py with ``args.torch_python`` on the same shapes; its JSON."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_gdfq_step.py")
    command = [args.torch_python, script, *_shape_flags(args)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


if __name__ == "__main__":
    cli.run(main)
