"""The JSON records of a run: reading them, the settings guard of a resumable workdir, package versions.

Every job (teacher training, search, compression) keeps its state next to its
checkpoints as small JSON files, written atomically (:mod:`atomic`) so that a kill
never leaves half a record. ``run.json`` holds the settings a workdir was started
with: :func:`check_settings` refuses a re-run whose settings differ, because it would
resume (or overwrite) a different run. :func:`workdir` creates the directory and takes
it away again if the job stops on a user error before it began.
"""

import contextlib
import json
import os
import platform
import shutil
import tempfile

from autorecon_tf.errors import UserError
from autorecon_tf.utils import atomic

SETTINGS_FILE = "run.json"
PROGRESS_FILE = "progress.json"  # ProgressRecorder's, in every job's workdir
_FIX = "delete it, or give a new --workdir"


@contextlib.contextmanager
def workdir(path, flag="--workdir"):
    """Creates ``path`` (a one-line error if it cannot be written) for the job run inside the ``with``.

    A :class:`UserError` raised inside before the job wrote more than its settings (a genotype
    that does not load, an ``--eval_data`` of the wrong shape) removes a workdir that this call
    created, so that a failed start leaves nothing behind; a later one keeps what can resume.
    """
    existed = os.path.isdir(path)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # writable, not only existing (a read-only mount)
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UserError(f"{flag} {path!r} cannot be written ({reason}): give a directory you can write") from error
    try:
        yield path
    except UserError:
        if not existed and set(os.listdir(path)) <= {SETTINGS_FILE}:
            shutil.rmtree(path, ignore_errors=True)
        raise


def read_record(path, fix):
    """The JSON record at ``path`` (teacher.json, student.json); a one-line error if it is not JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise UserError(f"record {path!r} is not valid JSON ({error}): {fix}") from error


def read_json(path, fix=_FIX):
    """The JSON record at ``path``, or ``{}`` if there is none yet (a first run)."""
    return read_record(path, fix) if os.path.exists(path) else {}


def as_json_data(payload):
    """``payload`` as plain JSON data (tuples become lists), comparable with a record read back."""
    return json.loads(json.dumps(payload))


def config_dict(config):
    """An ml_collections ``config`` as plain JSON data."""
    return as_json_data(config.to_dict())


def check_settings(workdir, settings, write=True):
    """Writes the run's settings once; a re-run must match them, or it would resume a different run.

    ``write=False`` (a non-chief worker of a multi-worker run) only compares with the settings found.
    """
    path = os.path.join(workdir, SETTINGS_FILE)
    settings = as_json_data(settings)
    previous = read_json(path)
    if not previous:
        if write:
            atomic.write_json(path, settings)
        return
    changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
    if changed:
        raise UserError(
            f"workdir {workdir!r} holds a run with other settings ({', '.join(changed)}): "
            "re-run the same command to resume it, or give a new --workdir"
        )


def package_versions():
    """The versions a record was produced with."""
    import numpy as np
    import tensorflow_model_optimization as tfmot

    from autorecon_tf.compat import keras, tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "tensorflow_model_optimization": tfmot.__version__,
        "numpy": np.__version__,
    }
