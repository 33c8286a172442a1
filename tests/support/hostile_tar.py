"""Tar members `tarfile` will not write: a real GNU sparse member (type 'S', old GNU format)
whose few stored bytes expand to `realsize` bytes when extracted naively."""

from __future__ import annotations

import tarfile

BLOCK = tarfile.BLOCKSIZE


def _octal(value: int, digits: int) -> bytes:
    return b"%0*o\x00" % (digits - 1, value)


def sparse_member(name: str, realsize: int, data: bytes = b"tail of a sparse file\n") -> bytes:
    """Header and data blocks of a sparse member: one region of `data` at the very end."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = len(data)
    info.mode = 0o644
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT)[-BLOCK:])
    assert len(header) == BLOCK
    header[386 : 386 + 24] = _octal(realsize - len(data), 12) + _octal(len(data), 12)
    header[482] = 0  # not extended
    header[483 : 483 + 12] = _octal(realsize, 12)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    pad = (-len(data)) % BLOCK
    return bytes(header) + data + b"\x00" * pad


def append_raw(tar: tarfile.TarFile, raw: bytes) -> None:
    """Write ready-made member blocks into a tar opened for writing."""
    assert tar.fileobj is not None
    tar.fileobj.write(raw)
    tar.offset += len(raw)
