"""The README's main job: the whole pipeline on the default teacher, ending in one result table.

    python tools/demo.py --workdir runs/demo        (what `make demo` runs)

Stages, each resumable after a kill and skipped when already done:
1. teacher: reuses runs/teacher_resnet20_fmnist (the standard ResNet-20) when it has
   finished, else trains the `demo` preset of configs/teacher_resnet20_fmnist.py;
2. search: AutoReCon's generator search, `demo` preset of configs/search_resnet20_fmnist.py;
3. compress: W4A4 data-free QAT with the searched generator, `demo` preset of
   configs/compress_resnet20_fmnist.py (scheme ``gdfq_int4`` at weight bits <= 4);
4. export: the LiteRT files of the student, with parity, size and latency: int8, and at weight bits
   <= 4 also the packed-int4 file (``tools/export_tflite.py --weights=int4``; at those bits the demo
   compresses with the ``gdfq_int4`` scheme, whose 4-bit weights int4 holds as they are).
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.export.int4 import MAX_INT4_WEIGHT_BITS  # noqa: E402
from autorecon_tf.pipelines.teacher import TEACHER_FILE, finished_record, train_teacher  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "Where the demo writes everything.")
_STANDARD_TEACHER = flags.DEFINE_string(
    "standard_teacher", "runs/teacher_resnet20_fmnist", "A finished standard teacher run to reuse, if present."
)
_BITS = flags.DEFINE_integer("bits", 4, "Weight and activation bit width of the student.")
_BUDGET = flags.DEFINE_enum(
    "budget", "demo", ["demo", "smoke"], "demo: the README demo; smoke: a tiny digits teacher, to test the glue."
)

# stage -> (config file, preset) for each --budget.
_STAGES = {
    "demo": {
        "teacher": ("teacher_resnet20_fmnist.py", "demo"),
        "search": ("search_resnet20_fmnist.py", "demo"),
        "compress": ("compress_resnet20_fmnist.py", "demo"),
        "export": ("export_default.py", "standard"),
    },
    "smoke": {
        "teacher": ("teacher_tiny_digits.py", "smoke"),
        "search": ("search_resnet20_fmnist.py", "smoke"),
        "compress": ("compress_resnet20_fmnist.py", "smoke"),
        "export": ("export_default.py", "smoke"),
    },
}


def _config(stage):
    name, preset = _STAGES[_BUDGET.value][stage]
    return cli.load_config(os.path.join(REPO, "configs", name), preset)


def teacher_stage(workdir):
    """Returns (teacher.keras path, record)."""
    standard = _STANDARD_TEACHER.value
    standard_config = cli.load_config(os.path.join(REPO, "configs", "teacher_resnet20_fmnist.py"), "standard")
    record = finished_record(standard_config, standard) if _BUDGET.value == "demo" else None
    directory = standard
    if record is None:
        directory = os.path.join(workdir, "teacher")
        config = _config("teacher")
        record = finished_record(config, directory)
        if record is None:
            print(f"[1/4 teacher] training the demo teacher in {directory}", flush=True)
            record = train_teacher(config, directory)
    print(f"[1/4 teacher] {directory}: test top-1 {100 * record['test_top1']:.2f}%", flush=True)
    return os.path.join(directory, TEACHER_FILE), record


def search_stage(workdir, teacher_path):
    from autorecon_tf.pipelines.search import run_search

    directory = os.path.join(workdir, "search")
    genotype_path = os.path.join(directory, "genotype.json")
    if not os.path.exists(genotype_path):
        print(f"[2/4 search] searching the generator in {directory}", flush=True)
        run_search(_config("search"), directory, teacher_path)
    print(f"[2/4 search] genotype: {genotype_path}", flush=True)
    return genotype_path


def compress_stage(workdir, teacher_path, genotype_path, bits):
    from autorecon_tf.compat import tf
    from autorecon_tf.pipelines.compress import METRICS_FILE, run_compression
    from autorecon_tf.teachers.loader import load_teacher

    directory = os.path.join(workdir, f"compress_w{bits}a{bits}_searched")
    metrics_path = os.path.join(directory, METRICS_FILE)
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as handle:
            metrics = json.load(handle)
    else:
        print(f"[3/4 compress] W{bits}A{bits} with the searched generator in {directory}", flush=True)
        config = _config("compress")
        if bits <= MAX_INT4_WEIGHT_BITS:  # weight levels that the int4 file holds as they are
            config.student.scheme = "gdfq_int4"
        metrics = run_compression(
            "searched",
            config,
            load_teacher(teacher_path),
            bits,
            bits,
            0,
            directory,
            tf.distribute.get_strategy(),
            genotype_path,
        )
    print(f"[3/4 compress] student top-1 {100 * metrics['student_top1']:.2f}%", flush=True)
    return directory, metrics


def export_stage(compress_dir, teacher_path):
    from autorecon_tf.export.report import export_run
    from autorecon_tf.pipelines.compress import GENERATOR_FILE, STUDENT_FILE

    out = os.path.join(compress_dir, "student.tflite")
    report_path = os.path.join(compress_dir, "export_report.json")
    if os.path.exists(report_path):
        with open(report_path, encoding="utf-8") as handle:
            return json.load(handle)
    config = _config("export")
    config.export.weights = "int4" if _BITS.value <= MAX_INT4_WEIGHT_BITS else "int8"
    print(f"[4/4 export] {config.export.weights} LiteRT file {out}, calibrated on generated images", flush=True)
    # Calibration on the compression run's own generator keeps the export data-free.
    return export_run(
        os.path.join(compress_dir, STUDENT_FILE),
        teacher_path,
        out,
        config,
        generator_path=os.path.join(compress_dir, GENERATOR_FILE),
    )


def _kib(size):
    return f"{size / 1024:.0f} KiB"


def print_table(rows):
    headers = ("model", "test top-1", "file size", "latency (1 thread, batch 1)")
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for index, row in enumerate([headers, *rows]):
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))


def main(argv):
    del argv
    workdir = _WORKDIR.value
    os.makedirs(workdir, exist_ok=True)
    from autorecon_tf import determinism

    # Before any stage starts TensorFlow: a stage that is skipped must not leave ops running concurrently.
    determinism.configure(0, _config("compress").deterministic)
    teacher_path, record = teacher_stage(workdir)
    genotype_path = search_stage(workdir, teacher_path)
    compress_dir, metrics = compress_stage(workdir, teacher_path, genotype_path, _BITS.value)
    export = export_stage(compress_dir, teacher_path)
    sizes, latency, parity = export["size_bytes"], export["latency"], export["parity"]
    student = f"student W{_BITS.value}A{_BITS.value}, searched generator"
    rows = [
        ("teacher, float32 (Keras)", f"{100 * record['test_top1']:.2f}%", "", ""),
        (
            "teacher, float32 (TFLite)",
            f"{100 * export['teacher_tflite_top1']:.2f}%",
            _kib(sizes["teacher_float32"]),
            f"{latency['teacher_float32']['median_ms']:.2f} ms",
        ),
        (f"{student} (Keras)", f"{100 * metrics['student_top1']:.2f}%", "", ""),
        (
            f"{student} (TFLite int8)",
            f"{100 * (export['int4']['int8_top1'] if 'int4' in export else parity['tflite_top1']):.2f}%",
            _kib(sizes["student_int8"]),
            f"{latency['student_int8']['median_ms']:.2f} ms",
        ),
    ]
    if "int4" in export:
        rows.append(
            (
                f"{student} (TFLite int4 weights)",
                f"{100 * parity['tflite_top1']:.2f}%",
                _kib(sizes["student_int4"]),
                f"{latency['student_int4']['median_ms']:.2f} ms",
            )
        )
    print()
    print_table(rows)
    kind = "int4" if "int4" in export else "int8"
    print(
        f"\nKeras/TFLite {kind} top-1 agreement {100 * parity['top1_agreement']:.2f}%; grid check "
        f"{'passed' if export['grid_check']['passed'] else 'FAILED'}; details in {compress_dir}/export_report.json"
    )


if __name__ == "__main__":
    cli.run(main)
