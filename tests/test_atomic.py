"""utils/atomic.py: a write that fails mid-way (a full disk) keeps the previous artifact and says so in one line."""

import contextlib
import errno
import os
import subprocess
import uuid
from unittest import mock

import pytest

from autorecon_tf.errors import UserError
from autorecon_tf.utils import atomic


@contextlib.contextmanager
def small_directory(tmp_path, size="64k"):
    """A directory on a ``size`` tmpfs where the machine lets us mount one (root), else None."""
    mount_point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], capture_output=True
    )
    try:
        yield str(mount_point) if mounted.returncode == 0 else None
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(mount_point)], check=True)


def _disk_full_write(path, payload):
    """``atomic.write_bytes`` on a disk that fills up after the first bytes of the new file."""
    real_open = open

    class FullFile:
        def __init__(self, *args, **kwargs):
            self.handle = real_open(*args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[:16])
            raise OSError(errno.ENOSPC, "No space left on device")

    with mock.patch("builtins.open", FullFile):
        atomic.write_bytes(path, payload)


def test_a_full_disk_keeps_the_previous_artifact_and_leaves_no_temporary_file(tmp_path):
    with small_directory(tmp_path) as directory:
        directory = directory or str(tmp_path)  # no mount allowed: the mocked disk below still fills up
        path = os.path.join(directory, "student.tflite")
        atomic.write_bytes(path, b"old model")
        with pytest.raises(UserError, match=r"no space left to write '.*student\.tflite' \(the previous one is kept\)"):
            if directory == str(tmp_path):
                _disk_full_write(path, b"x" * 1_000_000)
            else:
                atomic.write_bytes(path, b"x" * 1_000_000)  # 1 MB on a 64 KiB filesystem
        with open(path, "rb") as handle:
            assert handle.read() == b"old model"
        assert os.listdir(directory) == ["student.tflite"]


def test_the_mocked_full_disk_also_keeps_the_previous_json_record(tmp_path):
    path = str(tmp_path / "metrics.json")
    atomic.write_json(path, {"top1": 0.9})
    with pytest.raises(UserError, match="no space left"):
        _disk_full_write(path, b"{" * 100)
    assert open(path, encoding="utf-8").read().strip().startswith('{\n  "top1": 0.9')
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_other_write_errors_are_not_called_a_full_disk(tmp_path):
    with mock.patch("os.replace", side_effect=OSError(errno.EIO, "Input/output error")):
        with pytest.raises(OSError, match="Input/output"):
            atomic.write_bytes(str(tmp_path / "a.bin"), b"data")
    assert os.listdir(tmp_path) == []
