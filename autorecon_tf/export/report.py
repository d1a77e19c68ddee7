"""The whole export of a student: .tflite files, parity, grids, sizes and latencies, as one report.

``tools/export_tflite.py`` and the demo call :func:`export_run`, which calls :func:`export_student`; it
writes ``student.tflite`` (int8; with ``weights="int4"`` packed INT4 filters, the int8 file beside it
as ``student_int8.tflite``), ``teacher_float32.tflite`` beside it and returns the report dict that
the tool stores as ``export_report.json``: sizes, latencies, the grid check, which kernel runs each
conv/dense op, and parity on LiteRT's builtin kernels and XNNPACK with issue 22's verdict
(:func:`~autorecon_tf.export.parity.parity_verdict`).

``config.export.raw_pixels`` (default True; the tool's ``--noraw_pixels`` turns it off): both files take
the pixels the user's model takes, the preprocessing being their first op (``export/pixels.py``), and
everything that runs them (parity, the grid check, latency, the int4 comparison) feeds them pixels
while the Keras student gets the preprocessed images. Off: the files take the student's input, the
preprocessed pixels, as before. The report's ``input`` says which.
"""

import os
import time

import numpy as np
from absl import logging

from autorecon_tf.data.calibration import calibration_set
from autorecon_tf.errors import UserError
from autorecon_tf.export.convert import convert_float, convert_student
from autorecon_tf.export.grid_check import check_grids
from autorecon_tf.export.int4 import MAX_INT4_WEIGHT_BITS, kernel_paths, to_int4
from autorecon_tf.export.latency import measure_latency
from autorecon_tf.export.parity import parity_report, parity_verdict
from autorecon_tf.export.pixels import check_covered, pixel_input
from autorecon_tf.export.runtime import make_interpreter, run_tflite
from autorecon_tf.quantization.boundaries import preprocessing_input_range
from autorecon_tf.quantization.ranges import LOGIT_MARGIN
from autorecon_tf.quantization.student import (
    input_quantizer_range,
    is_quantized_student,
    lowbit_activation_quantizers,
    student_bits,
)
from autorecon_tf.utils.atomic import write_bytes, write_json


def check_student(student, path):
    if not is_quantized_student(student):
        raise UserError(
            f"{path!r} is not a quantized student (no autorecon_tf quantizers): export the output of compress"
        )


WEIGHT_FORMATS = ("int8", "int4")


def check_weights(student, weights, path):
    """``weights`` is ``int8`` or ``int4``; ``int4`` needs a student with weight bits <= 4."""
    if weights not in WEIGHT_FORMATS:
        raise UserError(f"weights={weights!r}: choose one of {', '.join(WEIGHT_FORMATS)}")
    weight_bits, _ = student_bits(student)
    if weights == "int4" and (weight_bits is None or weight_bits > MAX_INT4_WEIGHT_BITS):
        raise UserError(
            f"--weights=int4 needs a student with weight bits <= {MAX_INT4_WEIGHT_BITS}; {path!r} has "
            f"{weight_bits}-bit weights: export it with --weights=int8"
        )


def int8_sibling(out_path):
    """Where an int4 export keeps its int8 file: ``<out without .tflite>_int8.tflite``."""
    return f"{os.path.splitext(out_path)[0]}_int8.tflite"


def _write_student(student_bytes, out_path, weights, weight_bits):
    """Writes the .tflite(s); returns ``({kind: path}, int4 record or None)``, kind ``student_int8/_int4``."""
    if weights == "int8":
        write_bytes(out_path, student_bytes)
        return {"student_int8": out_path}, None
    int4_bytes, record = to_int4(student_bytes, weight_bits)
    if not record["exact"]:
        logging.warning(
            "int4: %d weights of the student's asymmetric %d-bit grids lie outside int4's [-8, 7] and were clipped: "
            "the int4 file is not the student's function; compress with --config.student.scheme=gdfq_int4 "
            "for a student whose weights fit (see autorecon_tf/export/int4.py)",
            record["clipped_weights"],
            weight_bits,
        )
    write_bytes(int8_sibling(out_path), student_bytes)
    write_bytes(out_path, int4_bytes)
    return {"student_int8": int8_sibling(out_path), "student_int4": out_path}, record


def export_student(
    student,
    teacher,
    out_path,
    calibration_images,
    eval_images=None,
    eval_labels=None,
    int8_io=False,
    latency_runs=200,
    latency_threads=1,
    grid_images=256,
    input_range=None,
    logit_margin=LOGIT_MARGIN,
    weights="int8",
    pixels=None,
):
    """Converts, writes and measures; returns the report (see the module docstring).

    It is long because it is the report: each field is one measurement of the written files.

    ``input_range``: the data-free range of the model input (see ``convert_student``). ``weights``:
    ``int4`` writes packed INT4 filters at ``out_path`` and the int8 file at :func:`int8_sibling`.
    ``pixels``: a :class:`~autorecon_tf.export.pixels.PixelInput`: the files take raw pixels;
    ``calibration_images`` and ``eval_images`` stay in the student's input space (the Keras side),
    the .tflite files get them as pixels (``PixelInput.to_pixels``: integer pixels come back exactly
    after the file's pixel fake-quant).
    """
    check_student(student, out_path)
    check_weights(student, weights, out_path)
    weight_bits, activation_bits = student_bits(student)
    if pixels is not None:
        check_covered(pixels, input_quantizer_range(student))
    feed = (lambda images: images) if pixels is None else pixels.to_pixels
    start = time.time()
    student_bytes, ranges = convert_student(
        student, calibration_images, int8_io, input_range=input_range, logit_margin=logit_margin, pixels=pixels
    )
    files, int4_record = _write_student(student_bytes, out_path, weights, weight_bits)
    teacher_path = os.path.join(os.path.dirname(os.path.abspath(out_path)), "teacher_float32.tflite")
    write_bytes(teacher_path, convert_float(teacher, pixels))
    files["teacher_float32"] = teacher_path
    grid_source = eval_images if eval_images is not None else calibration_images
    value_range = None if pixels is None else pixels.pixel_range
    report = {
        "student_tflite": os.path.abspath(out_path),
        "teacher_tflite": teacher_path,
        "weights": weights,
        "weight_bits": weight_bits,
        "activation_bits": activation_bits,
        "int8_io": bool(int8_io),
        "conversion_seconds": round(time.time() - start, 1),
        "size_bytes": {kind: os.path.getsize(path) for kind, path in files.items()},
        "export_ranges": {name: list(value) for name, value in ranges.items()},
        "grid_check": check_grids(
            out_path,
            weight_bits,
            activation_bits,
            feed(grid_source[:grid_images]),
            len(lowbit_activation_quantizers(student)),
        ),
        "kernels": kernel_paths(out_path),
        "latency": {
            kind: measure_latency(path, latency_runs, num_threads=latency_threads, value_range=value_range)
            for kind, path in files.items()
        },
    }
    if int4_record is not None:
        report["int4"] = {**int4_record, "int8_tflite": files["student_int8"], "note": INT4_NOTE}
    if eval_images is not None:
        _add_parity(report, student, (teacher, teacher_path), files, (eval_images, feed(eval_images)), eval_labels)
    return report


INT4_NOTE = (
    "int4 CONV_2D/DEPTHWISE_CONV_2D run LiteRT's builtin kernels, which unpack the filter on every invoke "
    "(XNNPACK rejects int4 conv filters; the default interpreter delegates the other ops, no flag needed); "
    "int4 FULLY_CONNECTED with an even input depth runs on XNNPACK. See kernels and autorecon_tf/export/int4.py."
)


def _add_parity(report, student, teacher, files, eval_images, eval_labels):
    """Student parity on both kernel paths and its verdict; teacher accuracies; int4 against int8.

    ``teacher``: ``(Keras model, float32 .tflite path)``; ``eval_images``: ``(Keras inputs, .tflite inputs)``.
    """
    out_path = report["student_tflite"]
    images, tflite_images = eval_images
    report["parity"] = parity_report(
        student, out_path, images, eval_labels, progress_label="student parity", tflite_images=tflite_images
    )
    report["parity"]["verdict"] = parity_verdict(report["parity"], report["grid_check"]["passed"])
    teacher_parity = parity_report(
        *teacher, images, eval_labels, progress_label="teacher parity", builtin=False, tflite_images=tflite_images
    )
    report["teacher_keras_top1"] = teacher_parity["keras_top1"]
    report["teacher_tflite_top1"] = teacher_parity["tflite_top1"]
    if "int4" in report:
        _add_int4_parity(report, files, tflite_images, eval_labels)


def _add_int4_parity(report, files, tflite_images, eval_labels):
    """The int4 file against the int8 file beside it, and the int4 file's verdict on the int8 file's yardstick.

    XNNPACK takes no int4 conv, so on the int4 file itself the two kernel paths run the same convs and
    their agreement (the verdict's bound) is about 100%: no measure of LiteRT's spread. The int8 file's
    builtin/XNNPACK agreement is, on the same images; the verdict uses it and says so (``yardstick``).
    """
    int8_builtin, int4_builtin = (
        np.argmax(run_tflite(path, tflite_images, interpreter=make_interpreter(path, delegates=False)), 1)
        for path in (files["student_int8"], report["student_tflite"])
    )
    int8_default = np.argmax(run_tflite(files["student_int8"], tflite_images), 1)
    block = report["int4"]
    block["top1_agreement_with_int8_builtin"] = float(np.mean(int8_builtin == int4_builtin))
    block["int8_builtin_vs_xnnpack"] = float(np.mean(int8_builtin == int8_default))
    if eval_labels is not None:  # the int8 file beside it, on the default interpreter too (the demo's row)
        block["int8_top1"] = float(np.mean(int8_default == eval_labels))
        block["int8_builtin_top1"] = float(np.mean(int8_builtin == eval_labels))
    parity = report["parity"]
    yardstick = {**parity, "builtin_vs_xnnpack": block["int8_builtin_vs_xnnpack"]}
    parity["verdict"] = {
        **parity_verdict(yardstick, report["grid_check"]["passed"]),
        "yardstick": "the int8 file's builtin/XNNPACK agreement (XNNPACK takes no int4 conv)",
    }


def evaluation_set(teacher, config, data_dir=None, eval_data=None):
    """Normalised real test images and labels for the parity report (None, None without data).

    ``eval_data``: the user's labelled data (:func:`~autorecon_tf.data.eval_data.load_eval_data`: a path
    or an ``(x, y)`` pair); else ``config.evaluation.dataset`` or the dataset that teacher.json names.
    """
    pixels, labels = evaluation_pixels(teacher, config, data_dir, eval_data)
    return (None, None) if pixels is None else (teacher.preprocessing(pixels).numpy(), labels)


def evaluation_pixels(teacher, config, data_dir=None, eval_data=None):
    """:func:`evaluation_set` before the preprocessing: the test pixels and labels (None, None without data)."""
    from autorecon_tf.data.datasets import load_dataset
    from autorecon_tf.data.eval_data import load_eval_data

    if eval_data is not None:
        data = load_eval_data(eval_data, teacher.input_shape, teacher.num_classes)
    else:
        name = config.evaluation.dataset or teacher.info.get("dataset")
        if not name:
            logging.warning("no --eval_data and no dataset in teacher.json: skipping the parity report")
            return None, None
        data = load_dataset(name, data_dir)
    limit = config.evaluation.limit or len(data.x_test)
    return data.x_test[:limit], data.y_test[:limit]


def export_run(
    student_path, teacher_path, out_path, config, generator_path=None, data_dir=None, eval_data=None, input_space=None
):
    """What tools/export_tflite.py does: load, then :func:`export_loaded`.

    ``input_space``: ``load_teacher``'s input-space keywords (the tools' ``--input_*`` flags).
    """
    from autorecon_tf.teachers.loader import load_keras_model, load_teacher

    check_config(config)
    student = load_keras_model(student_path, what="student")
    check_student(student, student_path)
    check_weights(student, config.export.get("weights", "int8"), student_path)
    teacher = load_teacher(teacher_path, **(input_space or {}))
    generator = load_keras_model(generator_path, what="generator") if generator_path else None
    report = export_loaded(student, teacher, out_path, config, generator, data_dir, eval_data)
    report.update(student=os.path.abspath(student_path))
    write_json(os.path.join(os.path.dirname(os.path.abspath(out_path)), "export_report.json"), report)
    return report


def check_config(config):
    if config.export.logit_margin < 0:
        raise UserError(
            f"config.export.logit_margin={config.export.logit_margin} must be >= 0 (0 keeps the interval bound)"
        )


def export_loaded(student, teacher, out_path, config, generator=None, data_dir=None, eval_data=None):
    """Calibrates (on ``generator``'s images, else ``config.calibration.source``), converts and measures.

    ``teacher``: a :class:`~autorecon_tf.teachers.loader.Teacher`. Returns the report, whose ``input``
    says what the .tflite takes: raw pixels (``config.export.raw_pixels``, the default) or the student's
    input, ``teacher.preprocessing`` of the pixels.
    """
    check_config(config)
    check_student(student, out_path)
    check_weights(student, config.export.get("weights", "int8"), out_path)
    source = "generator" if generator is not None else config.calibration.source
    calibration = calibration_set(
        source, config.calibration.count, teacher.input_shape, teacher.num_classes, generator, config.seed
    )
    eval_pixels, eval_labels = evaluation_pixels(teacher, config, data_dir, eval_data)
    eval_images = None if eval_pixels is None else teacher.preprocessing(eval_pixels).numpy()
    pixels, input_range = _input(teacher, config, None if eval_pixels is None else eval_pixels.shape[1:])
    report = export_student(
        student,
        teacher.model,
        out_path,
        calibration,
        eval_images,
        eval_labels,
        int8_io=config.export.int8_io,
        latency_runs=config.latency.runs,
        latency_threads=config.latency.threads,
        grid_images=config.evaluation.grid_images,
        input_range=input_range,
        logit_margin=config.export.logit_margin or None,
        weights=config.export.get("weights", "int8"),
        pixels=pixels,
    )
    report.update(
        calibration_source=source,
        input=PREPROCESSED_INPUT if pixels is None else pixels.record(),
        input_preprocessing={**teacher.preprocessing.to_dict(), "note": _preprocessing_note(pixels)},
        input_space=teacher.info.get("input_space"),
        config=config.to_dict(),
    )
    return report


PREPROCESSED_INPUT = {
    "kind": "preprocessed",
    "note": "the .tflite takes the student's input: (pixels / 255 - mean) / std per channel, applied outside it",
}


def input_line(record):
    """The printed table's ``input`` row from the report's ``input``."""
    if record["kind"] != "raw_pixels":
        return "preprocessed pixels (apply input_preprocessing outside the file)"
    low, high = record["pixel_range"]
    return f"raw pixels {low:g}..{high:g}, float32 {'x'.join(map(str, record['shape']))} (preprocessing inside)"


def _preprocessing_note(pixels):
    if pixels is None:
        return "the .tflite takes (pixels / 255 - mean) / std, per channel; this stays float, outside it"
    return "inside the .tflite: its first op computes (pixels / 255 - mean) / std per channel (export/pixels.py)"


def _input(teacher, config, image_shape):
    """``(PixelInput or None, the student input's data-free range)`` for ``config.export.raw_pixels``."""
    pixel_range = teacher.pixel_range
    input_range = preprocessing_input_range(teacher.preprocessing, pixel_range)
    if not config.export.get("raw_pixels", True):
        return None, input_range
    return pixel_input(teacher.preprocessing, teacher.input_shape, pixel_range, image_shape), input_range
