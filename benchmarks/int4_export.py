"""Issue 22's packed-int4 files on trained students: the int4 file against the int8 file beside it.

    python benchmarks/int4_export.py --teacher benchmarks/results/reproduce_standard/teacher_resnet20.keras \
        --runs runs/reproduce_deploy/runs/resnet20_w4a4_gdfq_seed0_s1_det2_int4,... --workdir runs/int4_export

Each ``--runs`` entry is a tools/compress.py run directory (student.keras, generator.keras, metrics.json).
Its student is exported as tools/export_tflite.py does with ``--weights=int4`` (config
``export_default.py:standard``: the whole real test set, 200 timed single-thread batch-1 invokes,
calibration on the run's own generator as in ``make demo``), into ``<workdir>/<run name>/``; a run
whose export_report.json exists is read back, not exported again (resumable). Table ``int4_export``:
per run the student's scheme, its accuracies in Keras, in the int8 file (default interpreter and
builtin kernels) and in the int4 file (builtin kernels, where its convs run), the two files' top-1
agreement under the builtin kernels (issue 22's acceptance: >= 99.9%), the weights clipped to
int4's [-8, 7], the file sizes and the latencies. Table ``int4_export_agreement``: each file's top-1
agreement with Keras on both kernel paths, and the int4 file against its unpacked twin (``agreements``).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.utils.records import read_record  # noqa: E402
from benchmarks import report  # noqa: E402

flags.DEFINE_string("teacher", None, "The teacher .keras the students were compressed from.", required=True)
flags.DEFINE_list("runs", None, "tools/compress.py run directories.", required=True)
flags.DEFINE_string("workdir", "runs/int4_export", "Where the .tflite files and reports go.")
flags.DEFINE_string("data_dir", None, "The Fashion-MNIST IDX directory (default: the system's).")

CONFIG = os.path.join(report.REPO, "configs", "export_default.py")


REEXPORT = "delete it to export that run again"


def _percent(value):
    return f"{100 * value:.2f}"


def export_dir(workdir, run):
    """Where ``run``'s student is exported: ``<workdir>/<run name>``."""
    return os.path.join(workdir, os.path.basename(os.path.normpath(run)))


def export_report(run, teacher, workdir, data_dir):
    """The export report of ``run``'s student with int4 weights (exported once, then read back)."""
    from autorecon_tf.export.report import export_run

    directory = export_dir(workdir, run)
    path = os.path.join(directory, "export_report.json")
    if os.path.exists(path):
        return read_record(path, REEXPORT)
    config = cli.load_config(CONFIG, "standard")
    config.export.weights = "int4"
    out = os.path.join(directory, "student.tflite")
    generator = os.path.join(run, "generator.keras")
    print(f"[{os.path.basename(directory)}] exporting", flush=True)
    export_run(os.path.join(run, "student.keras"), teacher, out, config, generator, data_dir=data_dir)
    return read_record(path, REEXPORT)


def row(run, exported):
    metrics, int4, parity = (
        read_record(os.path.join(run, "metrics.json"), "give a finished tools/compress.py run"),
        exported["int4"],
        exported["parity"],
    )
    sizes, latency = exported["size_bytes"], exported["latency"]
    return {
        "run": os.path.basename(os.path.normpath(run)),
        "scheme": metrics["config"]["student"]["scheme"],
        "bits": f"W{exported['weight_bits']}A{exported['activation_bits']}",
        "Keras top-1": _percent(parity["keras_top1"]),
        "int8 top-1": _percent(int4["int8_top1"]),
        "int8 builtin": _percent(int4["int8_builtin_top1"]),
        "int4 builtin": _percent(parity["builtin_top1"]),
        "int4/int8 agreement (builtin)": _percent(int4["top1_agreement_with_int8_builtin"]),
        "clipped weights": int4["clipped_weights"],
        "int4 / int8 size": f"{sizes['student_int4'] / 1024:.1f} / {sizes['student_int8'] / 1024:.1f} KiB "
        f"({sizes['student_int4'] / sizes['student_int8']:.2f}x)",
        "latency int4 / int8 / float32 (ms)": " / ".join(
            f"{latency[kind]['median_ms']:.2f}" for kind in ("student_int4", "student_int8", "teacher_float32")
        ),
    }


def agreements(run, teacher_path, directory, data_dir):
    """Top-1 agreements of Keras, the int8 file, the int4 file and the int4 file unpacked (its int8 twin).

    The twin (``export/int4.py``, ``packed_storage=False``) holds the int4 file's integers and scales as
    INT8: what LiteRT computes for the int4 file, on both kernel paths. Written to ``agreements.json``
    beside the export report and read back from there.
    """
    import numpy as np

    from autorecon_tf.export.int4 import to_int4
    from autorecon_tf.export.parity import keras_logits
    from autorecon_tf.export.report import evaluation_pixels
    from autorecon_tf.export.runtime import make_interpreter, run_tflite
    from autorecon_tf.teachers.loader import load_keras_model, load_teacher
    from autorecon_tf.utils.atomic import write_json

    path = os.path.join(directory, "agreements.json")
    if os.path.exists(path):
        return read_record(path, REEXPORT)
    exported = read_record(os.path.join(directory, "export_report.json"), REEXPORT)
    teacher = load_teacher(teacher_path)
    pixels, labels = evaluation_pixels(teacher, cli.load_config(CONFIG, "standard"), data_dir)
    keras_top1 = np.argmax(
        keras_logits(load_keras_model(os.path.join(run, "student.keras")), teacher.preprocessing(pixels).numpy()), 1
    )
    with open(exported["int4"]["int8_tflite"], "rb") as handle:
        int8 = handle.read()
    with open(exported["student_tflite"], "rb") as handle:
        int4 = handle.read()
    files = {"int8": int8, "int4": int4, "twin": to_int4(int8, exported["weight_bits"], packed_storage=False)[0]}
    pixels = np.asarray(pixels, np.float32)
    top1 = {
        f"{name} {path}": np.argmax(
            run_tflite(model, pixels, interpreter=make_interpreter(model, delegates=path == "default")), 1
        )
        for name, model in files.items()
        for path in ("builtin", "default")
        if not (name == "int4" and path == "default")  # int4 convs run the builtin kernels either way
    }
    result = {"keras_top1": float(np.mean(keras_top1 == labels))}
    for name, predicted in top1.items():
        result[f"Keras/{name}"] = float(np.mean(predicted == keras_top1))
    result["int4/int8 builtin"] = float(np.mean(top1["int4 builtin"] == top1["int8 builtin"]))
    result["int4/twin builtin"] = float(np.mean(top1["int4 builtin"] == top1["twin builtin"]))
    result["int8 builtin/default"] = float(np.mean(top1["int8 builtin"] == top1["int8 default"]))
    write_json(path, result)
    return result


def agreement_row(run, result):
    return {"run": os.path.basename(os.path.normpath(run)), **{key: _percent(value) for key, value in result.items()}}


def main(argv):
    del argv
    args = flags.FLAGS
    teacher = cli.require_file(args.teacher, "--teacher", "give the teacher .keras the students were compressed from")
    for run in args.runs:
        cli.require_file(os.path.join(run, "student.keras"), "--runs", "give tools/compress.py run directories")
    rows = [row(run, export_report(run, teacher, args.workdir, args.data_dir)) for run in args.runs]
    agreement_rows = [
        agreement_row(run, agreements(run, teacher, export_dir(args.workdir, run), args.data_dir)) for run in args.runs
    ]
    report.record(
        "int4_export",
        rows,
        list(rows[0]),
        "tools/export_tflite.py --weights=int4 of each run's student (the int8 file beside it); top-1 % on the"
        " 10,000 real test images; builtin: LiteRT's builtin kernels, where int4 convs run (XNNPACK takes no int4"
        " conv filter); latency: single thread, batch 1, median of 200 invokes on the default interpreter, on a"
        " machine shared with other runs (compare within a row).",
    )
    report.record(
        "int4_export_agreement",
        agreement_rows,
        list(agreement_rows[0]),
        "top-1 agreement % on the 10,000 real test images between Keras, the int8 file, the int4 file and the"
        " int4 file's unpacked twin (its integers and scales as INT8: what LiteRT computes for it), under"
        " LiteRT's builtin kernels and the default interpreter (XNNPACK where it takes the op).",
    )


if __name__ == "__main__":
    cli.run(main)
