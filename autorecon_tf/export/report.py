"""The whole export of a student: .tflite files, parity, grids, sizes and latencies, as one report.

``tools/export_tflite.py`` and the demo call :func:`export_run`, which calls :func:`export_student`; it
writes ``student.tflite`` (int8), ``teacher_float32.tflite`` beside it and
returns the report dict that the tool stores as ``export_report.json``.
"""

import os
import time

from absl import logging

from autorecon_tf.data.calibration import calibration_set
from autorecon_tf.errors import UserError
from autorecon_tf.export.convert import convert_float, convert_student
from autorecon_tf.export.grid_check import check_grids
from autorecon_tf.export.latency import measure_latency
from autorecon_tf.export.parity import parity_report
from autorecon_tf.quantization.boundaries import preprocessing_input_range
from autorecon_tf.quantization.ranges import LOGIT_MARGIN
from autorecon_tf.quantization.student import is_quantized_student, lowbit_activation_quantizers, student_bits
from autorecon_tf.utils.atomic import write_bytes, write_json


def check_student(student, path):
    if not is_quantized_student(student):
        raise UserError(
            f"{path!r} is not a quantized student (no autorecon_tf quantizers): export the output of compress"
        )


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
):
    """Converts, writes and measures; returns the report (see the module docstring).

    ``input_range``: the data-free range of the model input (see ``convert_student``).
    """
    check_student(student, out_path)
    weight_bits, activation_bits = student_bits(student)
    start = time.time()
    student_bytes, ranges = convert_student(
        student, calibration_images, int8_io=int8_io, input_range=input_range, logit_margin=logit_margin
    )
    write_bytes(out_path, student_bytes)
    teacher_path = os.path.join(os.path.dirname(os.path.abspath(out_path)), "teacher_float32.tflite")
    write_bytes(teacher_path, convert_float(teacher))
    grid_source = eval_images if eval_images is not None else calibration_images
    report = {
        "student_tflite": os.path.abspath(out_path),
        "teacher_tflite": teacher_path,
        "weight_bits": weight_bits,
        "activation_bits": activation_bits,
        "int8_io": bool(int8_io),
        "conversion_seconds": round(time.time() - start, 1),
        "size_bytes": {"student_int8": os.path.getsize(out_path), "teacher_float32": os.path.getsize(teacher_path)},
        "export_ranges": {name: list(value) for name, value in ranges.items()},
        "grid_check": check_grids(
            out_path,
            weight_bits,
            activation_bits,
            grid_source[:grid_images],
            len(lowbit_activation_quantizers(student)),
        ),
        "latency": {
            "student_int8": measure_latency(out_path, runs=latency_runs, num_threads=latency_threads),
            "teacher_float32": measure_latency(teacher_path, runs=latency_runs, num_threads=latency_threads),
        },
    }
    if eval_images is not None:
        report["parity"] = parity_report(student, out_path, eval_images, eval_labels, progress_label="student parity")
        teacher_parity = parity_report(teacher, teacher_path, eval_images, eval_labels, progress_label="teacher parity")
        report["teacher_keras_top1"] = teacher_parity["keras_top1"]
        report["teacher_tflite_top1"] = teacher_parity["tflite_top1"]
    return report


def evaluation_set(teacher, config, data_dir=None, eval_data=None):
    """Normalised real test images and labels for the parity report (None, None without data).

    ``eval_data``: the user's labelled data (:func:`~autorecon_tf.data.eval_data.load_eval_data`: a path
    or an ``(x, y)`` pair); else ``config.evaluation.dataset`` or the dataset that teacher.json names.
    """
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
    return teacher.preprocessing(data.x_test[:limit]).numpy(), data.y_test[:limit]


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

    ``teacher``: a :class:`~autorecon_tf.teachers.loader.Teacher`. Returns the report, which also says
    how to feed the .tflite: it takes the student's input, ``teacher.preprocessing`` of the pixels.
    """
    check_config(config)
    check_student(student, out_path)
    source = "generator" if generator is not None else config.calibration.source
    calibration = calibration_set(
        source, config.calibration.count, teacher.input_shape, teacher.num_classes, generator, config.seed
    )
    eval_images, eval_labels = evaluation_set(teacher, config, data_dir, eval_data)
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
        input_range=preprocessing_input_range(teacher.preprocessing),
        logit_margin=config.export.logit_margin or None,
    )
    report.update(
        calibration_source=source,
        input_preprocessing={
            **teacher.preprocessing.to_dict(),
            "note": "the .tflite takes (pixels / 255 - mean) / std, per channel; this stays float, outside it",
        },
        input_space=teacher.info.get("input_space"),
        config=config.to_dict(),
    )
    return report
