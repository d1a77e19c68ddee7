"""Where Keras/LiteRT top-1 disagreement comes from, per exported student (issue 6).

    .venv/bin/python benchmarks/parity_diagnosis.py --teacher runs/teacher/teacher.keras \
        --export runs/parity/w8a8/export --export runs/parity/w4a4/export [--images 3000]

Each ``--export`` directory is one written by tools/export_tflite.py (student.tflite and
export_report.json, whose ``student`` names the Keras student). On the first ``--images``
real test images it measures the top-1 agreement of:

* the student with itself under N(0, eps^2) input noise, eps in {1e-5, 1e-4, 1e-3}: how
  far a tiny perturbation (the input's int8 step is ~1e-2) moves its decisions; an
  implementation that is not bit-exact cannot agree better than this;
* the student with its export graph (``export/graph.py``: the student plus the 8-bit
  fake-quants export adds), with all the added ranges and with each group alone (input,
  BatchNorm outputs, pooling, logits), using the report's ranges;
* the .tflite with the export graph and with the student;
* the .tflite run by LiteRT's builtin kernels against the same file run by XNNPACK (the
  default delegate): two correct integer implementations of one file.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ml_collections  # noqa: E402
from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.export import graph  # noqa: E402
from autorecon_tf.export.parity import keras_logits  # noqa: E402
from autorecon_tf.export.pixels import PixelInput  # noqa: E402
from autorecon_tf.export.report import evaluation_set  # noqa: E402
from autorecon_tf.export.runtime import make_interpreter, run_tflite  # noqa: E402
from autorecon_tf.quantization import student_bits  # noqa: E402
from autorecon_tf.quantization.student import input_quantizer_range  # noqa: E402
from autorecon_tf.teachers.loader import load_keras_model, load_teacher  # noqa: E402
from benchmarks.report import record  # noqa: E402

NOISE = (1e-5, 1e-4, 1e-3)
GROUPS = {
    "input": lambda name: name == graph.INPUT,
    "BN outputs": lambda name: name.endswith("_bn"),
    "pooling": lambda name: name.startswith(graph.POOL_INPUT) or name == "pool",
    "logits": lambda name: name.endswith("logits"),
}


def _agreement(a, b):
    return f"{100 * np.mean(np.argmax(a, 1) == np.argmax(b, 1)):.2f}"


def diagnose(export_dir, images, seed=0):
    with open(os.path.join(export_dir, "export_report.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    student = load_keras_model(report["student"], what="student")
    ranges = {name: tuple(value) for name, value in report["export_ranges"].items()}
    logits = keras_logits(student, images)
    rng = np.random.default_rng(seed)
    placement = "deployment-faithful" if input_quantizer_range(student) is not None else "GDFQ placement"
    row = {"student": "W{}A{}, {}".format(*student_bits(student), placement), "export": export_dir}
    for eps in NOISE:
        noisy = images + eps * rng.standard_normal(images.shape).astype(np.float32)
        row[f"noise {eps:g}"] = _agreement(logits, keras_logits(student, noisy))
    export_logits = keras_logits(graph.build_export_model(student, ranges), images)
    row["graph, all ranges"] = _agreement(logits, export_logits)
    for group, member in GROUPS.items():
        subset = {name: value for name, value in ranges.items() if member(name)}
        row[f"graph, {group} only"] = _agreement(
            logits, keras_logits(graph.build_export_model(student, subset), images)
        )
    path = os.path.join(export_dir, "student.tflite")
    pixels = PixelInput.from_record(report.get("input"))  # a raw-pixel file takes the pixels
    tflite_images = images if pixels is None else pixels.to_pixels(images)
    tflite_logits = run_tflite(path, tflite_images, 256)
    row["tflite vs graph"] = _agreement(export_logits, tflite_logits)
    row["tflite vs student"] = _agreement(logits, tflite_logits)
    builtin_logits = run_tflite(path, tflite_images, 256, interpreter=make_interpreter(path, delegates=False))
    row["tflite builtin kernels vs XNNPACK"] = _agreement(builtin_logits, tflite_logits)
    print(row, flush=True)
    return row


flags.DEFINE_string("teacher", None, "Teacher .keras.", required=True)
flags.DEFINE_multi_string("export", None, "A tools/export_tflite.py output directory (repeatable).", required=True)
flags.DEFINE_integer("images", 3000, "Test images.")


def main(argv):
    del argv
    args = flags.FLAGS  # the flags above, read as args.<name>
    teacher = load_teacher(args.teacher)
    config = ml_collections.ConfigDict({"evaluation": {"dataset": "", "limit": args.images}})
    images, _ = evaluation_set(teacher, config)
    rows = [diagnose(directory, images) for directory in args.export]
    columns = list(rows[0])
    record(
        "parity_diagnosis",
        rows,
        columns,
        notes=(
            f"Top-1 agreement (%) on the first {len(images)} real test images. 'noise eps': the Keras student"
            " against itself on inputs + N(0, eps^2). 'graph': the Keras student against its export graph"
            " (the 8-bit fake-quants export adds, all or one group). 'tflite': the LiteRT file (XNNPACK);"
            " 'builtin kernels': the same file without delegates."
        ),
    )


if __name__ == "__main__":
    cli.run(main)
