"""A strict reader for IDX files (the MNIST / Fashion-MNIST format), gzipped or not.

Format: 2 zero bytes, a type byte (0x08 = unsigned byte), a rank byte, then one
big-endian uint32 per dimension, then the data. Every check failure raises a
one-line :class:`~autorecon_tf.errors.UserError` that names the file.
"""

import gzip
import os

import numpy as np

from autorecon_tf.errors import UserError

_UBYTE = 0x08


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError as error:
        raise UserError(f"IDX file {path!r} does not exist") from error
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise UserError(f"IDX file {path!r} is a corrupt or truncated gzip file ({error})") from error
    return raw


def read_idx(path, expected_rank=None):
    """Returns the array stored in the IDX file ``path`` (uint8)."""
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"IDX file {path!r} has a wrong magic number (not an IDX file)")
    if raw[2] != _UBYTE:
        raise UserError(f"IDX file {path!r} has data type 0x{raw[2]:02x}; only unsigned bytes (0x08) are supported")
    rank = raw[3]
    if expected_rank is not None and rank != expected_rank:
        raise UserError(f"IDX file {path!r} has rank {rank}, expected {expected_rank}")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise UserError(f"IDX file {path!r} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(raw) - header
    if actual != expected:
        state = "truncated" if actual < expected else "longer than its header says"
        raise UserError(f"IDX file {path!r} is {state}: header shape {shape} needs {expected} bytes, found {actual}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path, array):
    """Writes a uint8 array as an (uncompressed, or gzipped for ``.gz``) IDX file; used by tests."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    if os.fspath(path).endswith(".gz"):
        payload = gzip.compress(payload)
    with open(path, "wb") as handle:
        handle.write(payload)
