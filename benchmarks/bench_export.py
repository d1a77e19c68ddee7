"""Size and single-thread batch-1 latency of the int8 student .tflite against the float32 teacher .tflite.

    python benchmarks/bench_export.py --teacher runs/teacher_resnet20_fmnist/teacher.keras \
        [--student runs/compress/student.keras] --bits 4,4 --runs 200 --out results/bench_export.json

Without --student, a student is built from the teacher at --bits with noise-set
ranges: latency and size do not depend on how well it was trained. Records
numbers only; asserts nothing about time.
"""

import json
import os
import platform
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.data.calibration import noise_images
from autorecon_tf.export import convert_student  # noqa: E402
from autorecon_tf.export.convert import convert_float  # noqa: E402
from autorecon_tf.export.latency import measure_latency  # noqa: E402
from autorecon_tf.quantization import build_student, set_range_update, student_bits  # noqa: E402
from autorecon_tf.teachers.loader import load_keras_model, load_teacher  # noqa: E402
from autorecon_tf.utils.atomic import write_bytes, write_json  # noqa: E402

flags.DEFINE_string("teacher", None, "Teacher .keras.", required=True)
flags.DEFINE_string("student", None, "Student .keras of tools/compress.py (default: built from the teacher).")
flags.DEFINE_list("bits", ["4", "4"], "W,A: the bit widths of the student built without --student.")
flags.DEFINE_integer("runs", 200, "Timed interpreter runs.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_string("out", "results/bench_export.json", "JSON file to write.")


def main(argv):
    del argv
    args = flags.FLAGS  # the flags above, read as args.<name>
    teacher = load_teacher(args.teacher)
    calibration = noise_images(teacher.input_shape, 128)
    if args.student:
        student = load_keras_model(args.student, what="student")
    else:
        student = build_student(teacher.model, *map(int, args.bits))
        student(calibration, training=False)
        set_range_update(student, False)
    directory = tempfile.mkdtemp(prefix="bench_export_")
    student_path, teacher_path = os.path.join(directory, "student.tflite"), os.path.join(directory, "teacher.tflite")
    write_bytes(student_path, convert_student(student, calibration)[0])
    write_bytes(teacher_path, convert_float(teacher.model))
    weight_bits, activation_bits = student_bits(student)
    result = {
        "teacher": os.path.abspath(args.teacher),
        "student": args.student,
        "weight_bits": weight_bits,
        "activation_bits": activation_bits,
        "machine": platform.processor() or platform.machine(),
        "size_bytes": {"student_int8": os.path.getsize(student_path), "teacher_float32": os.path.getsize(teacher_path)},
        "latency": {
            "student_int8": measure_latency(student_path, runs=args.runs, num_threads=args.threads),
            "teacher_float32": measure_latency(teacher_path, runs=args.runs, num_threads=args.threads),
        },
    }
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    cli.run(main)
