"""Labelled data a user may hold, for ``--eval_data``: an ``.npz`` with ``x`` and ``y``, or a folder of class folders.

The images are what the user feeds the model (its pixels, see
:mod:`autorecon_tf.teachers.input_space`); they are only evaluated on, never trained on.
A folder is read with ``keras.utils.image_dataset_from_directory`` (one subfolder per
class, in sorted order, resized to the model's input size).
"""

import os
import zipfile

import numpy as np

from autorecon_tf.data.datasets import Dataset
from autorecon_tf.errors import UserError

_FIX = "give an .npz with x (N, H, W, C) and y (N,) or a folder of class subfolders of images"


def _from_npz(path):
    try:
        with np.load(path, allow_pickle=False) as payload:
            missing = [key for key in ("x", "y") if key not in payload.files]
            if missing:
                raise UserError(f"--eval_data {path!r} has no {' or '.join(missing)} array: {_FIX}")
            return payload["x"], payload["y"]
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(f"--eval_data {path!r} could not be read ({str(error)[:120]}): {_FIX}") from error


def _from_folder(path, input_shape):
    from autorecon_tf.compat import keras

    height, width, channels = input_shape
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(channels)
    if color_mode is None:
        raise UserError(f"--eval_data {path!r}: a folder of images cannot feed a {channels}-channel model: {_FIX}")
    try:
        dataset = keras.utils.image_dataset_from_directory(
            path, image_size=(height, width), color_mode=color_mode, shuffle=False, batch_size=256
        )
    except ValueError as error:
        raise UserError(f"--eval_data {path!r} holds no class folders of images ({str(error)[:120]}): {_FIX}") from None
    batches = list(dataset.as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def load_eval_data(path, input_shape, num_classes):
    """The test split of a :class:`Dataset` from ``path``, checked against the model's input shape and classes.

    ``path`` may also be an ``(x, y)`` pair of arrays (the Python API's ``eval_data``).
    """
    if isinstance(path, (tuple, list)):
        if len(path) != 2:
            raise UserError(f"eval_data has {len(path)} parts: give (x, y), a path to an .npz or a folder")
        (x, y), path = path, "(x, y)"
        x = np.asarray(x)
    elif not os.path.exists(path):
        raise UserError(f"--eval_data {path!r} does not exist: {_FIX}")
    else:
        x, y = _from_folder(path, input_shape) if os.path.isdir(path) else _from_npz(path)
    if x.ndim == 3 and input_shape[-1] == 1:
        x = x[..., None]
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise UserError(f"--eval_data {path!r} holds images of shape {x.shape[1:]}; the model takes {input_shape}")
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x) or not len(y) or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"--eval_data {path!r} needs one integer label per image ({len(x)} images, {len(y)} labels)")
    if y.min() < 0 or y.max() >= num_classes:
        raise UserError(f"--eval_data {path!r} holds label {int(y.max())}; the model has {num_classes} classes")
    names = tuple(str(index) for index in range(num_classes))
    empty = np.zeros((0, *input_shape), x.dtype)
    return Dataset(os.path.basename(os.path.normpath(path)), empty, np.zeros(0, np.int64), x, y.astype(np.int64), names)


def run_data(teacher, data_dir=None, eval_data=None):
    """The labelled data of a run on ``teacher``: ``eval_data`` (test only), else the dataset its teacher.json
    names (train and test), else None (then only the data-free fidelity is measured)."""
    from autorecon_tf.data.datasets import load_dataset

    if eval_data:
        return load_eval_data(eval_data, teacher.input_shape, teacher.num_classes)
    if teacher.info.get("dataset"):
        return load_dataset(teacher.info["dataset"], data_dir or teacher.info.get("data_dir") or None)
    return None
