"""Exports a compressed student to a fully-integer .tflite and writes export_report.json.

    python tools/export_tflite.py --config configs/export_default.py:standard \
        --student runs/compress/student.keras --teacher_dir runs/teacher_resnet20_fmnist \
        --out runs/export/student.tflite [--generator runs/compress/generator.keras] [--weights=int4] \
        [--noraw_pixels]

Writes (atomically) ``--out``, ``teacher_float32.tflite`` and ``export_report.json``
beside it: parity with the Keras student on the real test set under LiteRT's builtin kernels
and XNNPACK, with issue 22's verdict (met or missed, and by how much), the grid check read
from the .tflite, which kernel runs each conv/dense op, file sizes and single-thread batch-1
latencies. ``--weights=int4`` (weight bits <= 4) stores the conv/dense filters as packed INT4
at ``--out`` and keeps the int8 file beside it as ``<out>_int8.tflite``.

A teacher without a ``teacher.json`` (any Keras classifier) takes the same
``--input_range`` / ``--input_mean`` / ``--input_std`` as ``tools/compress.py``, and
``--eval_data`` (an .npz with x and y, or a folder of class folders) for parity;
without labelled data the parity report is skipped.

What the .tflite takes (``export_report.json``'s ``input``, and the table's first row): by
default the pixels the model takes (float32, e.g. 0..255), the model's preprocessing (its
Rescaling/Normalization, or teacher.json's mean/std and padding) being the file's first op,
on the int8 grid (``autorecon_tf/export/pixels.py``); ``teacher_float32.tflite`` takes the same.
``--noraw_pixels`` (``config.export.raw_pixels=False``) writes the files as before: they take the
preprocessed pixels, and the preprocessing recorded under ``input_preprocessing`` is the user's to apply.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.errors import UserError  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/export_default.py", "Export config file.")
_STUDENT = flags.DEFINE_string("student", None, "The quantized student (.keras) written by tools/compress.py.")
_TEACHER = flags.DEFINE_string("teacher", None, "The float teacher (.keras); default: <teacher_dir>/teacher.keras.")
_TEACHER_DIR = flags.DEFINE_string("teacher_dir", None, "Directory holding teacher.keras and teacher.json.")
_GENERATOR = flags.DEFINE_string("generator", None, "Optional generator (.keras) for calibration images.")
_OUT = flags.DEFINE_string("out", None, "Path of the int8 .tflite to write.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "The Fashion-MNIST IDX directory (for the parity report).")
_EVAL_DATA = flags.DEFINE_string(
    "eval_data", None, "Labelled test data for parity: an .npz with x and y, or a folder of class subfolders."
)
_WEIGHTS = flags.DEFINE_enum(
    "weights", None, ["int8", "int4"], "Filter storage; default: config.export.weights (int8). int4: weight bits <= 4."
)
_RAW_PIXELS = flags.DEFINE_bool(
    "raw_pixels",
    None,
    "The .tflite takes the model's raw pixels, its preprocessing inside (default: config.export.raw_pixels, "
    "True); --noraw_pixels: it takes the preprocessed pixels.",
)
_INPUT_SPACE = cli.define_input_space_flags()


def _teacher_path():
    if _TEACHER.value:
        return cli.require_file(_TEACHER.value, "--teacher", "give the teacher.keras the student was compressed from")
    if _TEACHER_DIR.value:
        return cli.require_file(os.path.join(_TEACHER_DIR.value, "teacher.keras"), "teacher", "check --teacher_dir")
    raise UserError("no teacher given: pass --teacher path/to/teacher.keras or --teacher_dir path/to/run")


def _print_table(report):
    from autorecon_tf.export.parity import verdict_line
    from autorecon_tf.export.report import input_line

    parity = report.get("parity", {})
    kind = report.get("weights", "int8")
    print(f"{'input':34s} {input_line(report['input'])}")
    rows = [
        ("teacher accuracy (Keras)", report.get("teacher_keras_top1")),
        ("student accuracy (Keras)", parity.get("keras_top1")),
        (f"student accuracy (LiteRT {kind})", parity.get("tflite_top1")),
        (f"student accuracy (builtin {kind})", parity.get("builtin_top1")),
        ("top-1 agreement Keras/LiteRT", parity.get("keras_vs_xnnpack", parity.get("top1_agreement"))),
        ("top-1 agreement Keras/builtin", parity.get("keras_vs_builtin")),
        ("top-1 agreement builtin/XNNPACK", parity.get("builtin_vs_xnnpack")),
    ]
    if "int4" in report:
        rows.append(("student accuracy (builtin int8)", report["int4"].get("int8_builtin_top1")))
        rows.append(("top-1 agreement int4/int8 builtin", report["int4"].get("top1_agreement_with_int8_builtin")))
    for label, value in rows:
        print(f"{label:34s} {'-' if value is None else f'{100 * value:.2f}%'}")
    sizes, latency = report["size_bytes"], report["latency"]
    kinds = [name for name in ("student_int4", "student_int8", "teacher_float32") if name in sizes]
    labels = " / ".join(name.split("_")[-1] for name in kinds)
    print(f"{f'size {labels} (KiB)':34s} " + " / ".join(f"{sizes[name] / 1024:.1f}" for name in kinds))
    print(f"{f'latency {labels} (ms)':34s} " + " / ".join(f"{latency[name]['median_ms']:.3f}" for name in kinds))
    print(f"{'grid check':34s} {'passed' if report['grid_check']['passed'] else 'FAILED'}")
    if "int4" in report and not report["int4"]["exact"]:
        print(f"{'int4 weights clipped to [-8, 7]':34s} {report['int4']['clipped_weights']}")
    if "verdict" in parity:
        print(f"{'parity verdict':34s} {verdict_line(parity['verdict'])}")


def main(argv):
    del argv
    config = _CONFIG.value
    student_path = cli.require_file(_STUDENT.value, "--student", "give the student.keras written by tools/compress.py")
    if not _OUT.value or not _OUT.value.endswith(".tflite"):
        raise UserError(f"--out={_OUT.value!r} must name a .tflite file to write")
    from autorecon_tf.export.report import export_run

    if _WEIGHTS.value:
        config.export.weights = _WEIGHTS.value
    if _RAW_PIXELS.value is not None:
        config.export.raw_pixels = _RAW_PIXELS.value
    report = export_run(
        student_path,
        _teacher_path(),
        _OUT.value,
        config,
        _GENERATOR.value,
        _DATA_DIR.value,
        eval_data=_EVAL_DATA.value,
        input_space=cli.input_space_args(_INPUT_SPACE),
    )
    _print_table(report)


if __name__ == "__main__":
    cli.run(main)
