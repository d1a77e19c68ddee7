"""Top-1 / top-5 of a model file on the real test split of its dataset.

    python tools/evaluate.py --model runs/teacher_resnet20_fmnist/teacher.keras
    python tools/evaluate.py --model runs/demo/student.tflite --record runs/teacher_resnet20_fmnist/teacher.json

Accepts .keras, .h5, a SavedModel directory and .tflite. The dataset and input
normalisation come from the teacher record (``teacher.json``): found next to the
model or given with --record. A .tflite that holds its preprocessing (the raw-pixel
export, ``autorecon_tf/export/pixels.py``) is fed the pixels themselves.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.data.datasets import DATASETS, load_dataset  # noqa: E402
from autorecon_tf.data.pipeline import Preprocessing  # noqa: E402
from autorecon_tf.errors import UserError  # noqa: E402
from autorecon_tf.utils.records import read_record  # noqa: E402

_MODEL = flags.DEFINE_string("model", None, "Model file: .keras, .h5, SavedModel directory or .tflite.")
_RECORD = flags.DEFINE_string(
    "record", None, "teacher.json giving dataset and normalisation (default: next to --model)."
)
_DATASET = flags.DEFINE_enum("dataset", None, list(DATASETS), "Overrides the record's dataset.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "The Fashion-MNIST IDX directory.")
_OUTPUT = flags.DEFINE_string("output", None, "Also write the result to this JSON file.")


def _record(model_path):
    candidates = (
        [_RECORD.value]
        if _RECORD.value
        else [
            os.path.join(os.path.dirname(os.path.abspath(model_path)), name)
            for name in ("teacher.json", "student.json")
        ]
    )
    for path in candidates:
        if path and os.path.isfile(path):
            return read_record(path, "pass a teacher.json with --record")
    if _RECORD.value:
        raise UserError(f"record {_RECORD.value!r} does not exist: pass the teacher.json written by train_teacher")
    raise UserError(f"no teacher.json next to {model_path!r}: pass --record path/to/teacher.json")


def evaluate_file(model_path, x, y, preprocessing):
    if model_path.endswith(".tflite"):
        from autorecon_tf.export import evaluate_tflite
        from autorecon_tf.export.runtime import takes_raw_pixels

        # A raw-pixel file (tools/export_tflite.py's default) applies the preprocessing itself.
        images = x.astype("float32") if takes_raw_pixels(model_path) else preprocessing(x).numpy()
        return evaluate_tflite(model_path, images, y)
    from autorecon_tf.evaluation import evaluate_model
    from autorecon_tf.teachers.loader import load_keras_model, validate_teacher

    model = load_keras_model(model_path)
    validate_teacher(model, model_path, require_batchnorm=False)
    return evaluate_model(model, x, y, preprocessing)


def main(argv):
    del argv
    model_path = cli.require_file(_MODEL.value, "--model", "give a .keras, .h5, SavedModel directory or .tflite file")
    record = _record(model_path)
    preprocessing = Preprocessing.from_dict(record.get("preprocessing") or {})
    data = load_dataset(_DATASET.value or record.get("dataset", "fashion_mnist"), _DATA_DIR.value)
    result = evaluate_file(model_path, data.x_test, data.y_test, preprocessing)
    result.update(model=model_path, dataset=data.name)
    print(
        f"{model_path}: top-1 {100 * result['top1']:.2f}%, top-5 {100 * result['top5']:.2f}% on {len(data.y_test)} {data.name} test images"
    )
    if _OUTPUT.value:
        from autorecon_tf.utils.atomic import write_json

        write_json(_OUTPUT.value, result)


if __name__ == "__main__":
    cli.run(main)
