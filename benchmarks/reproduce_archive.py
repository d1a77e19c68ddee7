"""A grid's durable records kept in the repository, so that a grid longer than one machine's life resumes on the next.

A preset with an ``archive`` (a directory of this repository, for example
benchmarks/results/reproduce_standard) keeps there, under version control:

- ``teacher_<name>.keras`` and ``teacher_<name>.json``: the teacher the grid runs on, copied in
  ("pinned") by the grid's first run. Every later run, on any machine, compresses this same
  file, so cells finished on different machines share one teacher;
- ``search_<name>[_<label>]/genotype.json`` and ``alpha_history.json`` (a Gumbel search) or
  ``trials.json`` and ``tuner.json`` (a keras-tuner search): the finished searches;
- ``stages/*.json`` and ``cells/*.json``: the records of the finished stages and cells. A cell
  record names its teacher's sha256, and one that names another teacher than the pinned one
  is not saved.

A run first restores these records into its workdir (the finished stages and cells are then
skipped) and copies every new record back as soon as it is written. Checkpoints, logs and
TensorBoard files stay in the workdir: a cell killed with its machine restarts from scratch.
"""

import filecmp
import glob
import hashlib
import json
import os
import shutil

from autorecon_tf.utils import atomic

RECORDS = (
    "cells/*.json",
    "stages/*.json",
    "search_*/genotype.json",
    "search_*/alpha_history.json",  # a Gumbel search's
    "search_*/trials.json",  # a keras-tuner search's
    "search_*/tuner.json",
)


class ArchiveError(Exception):
    """A teacher that contradicts the pinned one: printed as one ``error:`` line by the harness."""


def sha256(path):
    """Hex digest of a file, printed as the pinned teacher's fingerprint."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy(source, destination):
    with atomic.atomic_path(destination) as tmp:
        shutil.copyfile(source, tmp)


def pin_teacher(archive, name, source, explicit=False):
    """Returns the path of the teacher the archived grid runs on, pinning ``source`` if none is pinned yet.

    ``explicit``: ``source`` was given on the command line, so a different pinned file is an
    error (mixing teachers in one grid); otherwise the pinned file silently wins over the
    preset's default path. The teacher's record (``teacher.json`` next to ``source``) is
    pinned with it when it exists.
    """
    pinned = os.path.join(archive, f"teacher_{name}.keras")
    if os.path.isfile(pinned):
        if explicit and not filecmp.cmp(source, pinned, shallow=False):
            raise ArchiveError(
                f"--teacher {source!r} is not the teacher pinned in {pinned!r}, on which this grid's finished"
                " cells ran: drop --teacher to continue the grid, or pass --no_archive for a separate grid"
            )
        return pinned
    if source is None or not os.path.isfile(source):
        raise ArchiveError(
            f"no teacher {name!r} is pinned in {archive!r} and {source!r} does not exist:"
            f" train it with tools/train_teacher.py or pass --teacher {name}=PATH"
        )
    record = os.path.join(os.path.dirname(source), "teacher.json")
    if os.path.isfile(record):
        _copy(record, os.path.join(archive, f"teacher_{name}.json"))
    _copy(source, pinned)
    print(f"[archive] pinned teacher {name} ({source}, sha256 {sha256(pinned)[:12]}) as {pinned}", flush=True)
    return pinned


def other_teacher(path, digests):
    """The teacher sha256 that the cell record at ``path`` names when it is not its teacher's in ``digests``, else None.

    ``digests``: {teacher name: sha256}. Records written before cells recorded their
    teacher's sha256 (2026-11-27) name none and are taken as they are.
    """
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    recorded, digest = record.get("teacher_sha256"), digests.get(record.get("teacher"))
    return recorded if recorded and digest and recorded != digest else None


def _sync(source_root, destination_root, overwrite, digests=None):
    """Copies the records under ``source_root`` that are missing (or, with ``overwrite``, different) under ``destination_root``.

    ``digests`` ({teacher name: sha256}): cell records of another teacher are left out.
    """
    copied = 0
    for pattern in RECORDS:
        for source in sorted(glob.glob(os.path.join(source_root, pattern))):
            destination = os.path.join(destination_root, os.path.relpath(source, source_root))
            if os.path.isfile(destination) and (not overwrite or filecmp.cmp(source, destination, shallow=False)):
                continue
            if digests and pattern.startswith("cells/") and other_teacher(source, digests):
                print(f"[archive] not saved: {source} ran on another teacher than the pinned one", flush=True)
                continue
            _copy(source, destination)
            copied += 1
    return copied


def restore(archive, workdir):
    """Copies the archived records into ``workdir`` where they are missing; returns how many."""
    return _sync(archive, workdir, overwrite=False)


def save(archive, workdir, digests=None):
    """Copies ``workdir``'s new or changed records into the archive; returns how many.

    ``digests`` ({teacher name: sha256} of the pinned teachers): a cell record that names
    another teacher (a workdir shared with a ``--no_archive`` run) is not saved.
    """
    return _sync(workdir, archive, overwrite=True, digests=digests)
