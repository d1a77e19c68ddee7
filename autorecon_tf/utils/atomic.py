"""Atomic writes: every artifact is written to a temporary sibling, then renamed.

A killed run therefore never leaves a half-written ``teacher.keras``,
``genotype.json`` or ``.tflite`` behind: either the old file (or none) or the
complete new one exists. So does a write that fails mid-way: a full disk
(ENOSPC, EDQUOT) leaves the previous artifact intact and gets a one-line error.
"""

import contextlib
import errno
import json
import os
import shutil
import tempfile

from autorecon_tf.errors import UserError

_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to ``path``; renames it onto ``path`` on success.

    The temporary name keeps ``path``'s suffix, because Keras picks the format
    from it (``.keras``, ``.h5``). Works for files and for directories.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(path)
    stem, suffix = os.path.splitext(base)
    handle, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffix}", dir=directory)
    os.close(handle)
    os.unlink(tmp)  # the writer creates it (a file or a directory)
    try:
        yield tmp
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as error:
        if error.errno not in _FULL:
            raise
        raise UserError(f"no space left to write {path!r} (the previous one is kept): free some space") from error
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path, payload):
    """Writes ``payload`` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.write("\n")


def write_bytes(path, data):
    """Writes ``data`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def save_model(model, path):
    """Saves a Keras model atomically (format chosen by ``path``'s suffix)."""
    with atomic_path(path) as tmp:
        model.save(tmp)
