"""Export of a compressed student to a fully-integer .tflite, with parity, grid and latency report.

Launch (from the repository root):

    python tools/export_tflite.py --config configs/export_default.py:standard \
        --student runs/compress/student.keras --teacher_dir runs/teacher --out runs/export/student.tflite

``smoke`` evaluates parity on 500 test images and times 200 runs; ``standard``
and ``full`` use the whole test set.
"""

import ml_collections

PRESETS = ("smoke", "standard", "full")


def get_config(arg=None):
    preset = arg or "standard"
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: use one of {PRESETS}")
    config = ml_collections.ConfigDict()
    config.preset = preset
    config.seed = 0

    config.calibration = ml_collections.ConfigDict()
    # Images that range the tensors GDFQ leaves float: "noise" (N(0, 1) in the
    # normalised input space) or "generator" (needs --generator). Data-free either way.
    config.calibration.source = "noise"
    config.calibration.count = 256

    config.export = ml_collections.ConfigDict()
    config.export.int8_io = False
    # The logits' int8 range: the calibration images' logit range times this,
    # capped by the never-clipping interval bound; 0 keeps the bound (see
    # autorecon_tf/quantization/ranges.py, _bound_pool_and_dense).
    config.export.logit_margin = 2.0
    # "int8", or "int4": packed INT4 conv/dense filters for students with weight bits <= 4
    # (autorecon_tf/export/int4.py; the int8 file is kept beside it as <out>_int8.tflite).
    config.export.weights = "int8"
    # True: the .tflite takes the pixels the model takes (e.g. 0..255), its preprocessing the first op
    # (autorecon_tf/export/pixels.py); False: it takes the preprocessed pixels, as before.
    config.export.raw_pixels = True

    config.evaluation = ml_collections.ConfigDict()
    config.evaluation.dataset = ""  # empty: the dataset recorded in teacher.json
    config.evaluation.limit = 500 if preset == "smoke" else 0  # 0: the whole test set
    config.evaluation.grid_images = 256

    config.latency = ml_collections.ConfigDict()
    config.latency.runs = 200
    config.latency.threads = 1
    return config
