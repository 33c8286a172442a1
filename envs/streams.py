"""Bounded reading of untrusted archives: a byte counter over a stream decompressed here
(gzip, bzip2, xz), so a decompression bomb stops at the bytes its reader allows."""

from __future__ import annotations

import bz2
import gzip
import lzma
from typing import IO, cast


class Overflow(Exception):
    """A stream yielded more bytes than its reader allowed (see CountedReader)."""


class CountedReader:
    """A read-only stream that refuses to yield more than `limit` bytes in all (the limit
    may be raised as declared sizes become known)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.count = 0

    def read(self, n: int | None = -1) -> bytes:
        room = self.limit - self.count
        if room <= 0:
            if self.stream.read(1):
                raise Overflow(self.count)
            return b""
        data = self.stream.read(room if n is None or n < 0 else min(n, room))
        self.count += len(data)
        return data


def decompressed(raw: IO[bytes]) -> IO[bytes]:
    """`raw` (seekable) decompressed when it starts with a gzip, bzip2 or xz signature."""
    head = raw.read(6)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if head[:3] == b"BZh":
        return cast(IO[bytes], bz2.BZ2File(raw))
    if head == b"\xfd7zXZ\x00":
        return cast(IO[bytes], lzma.LZMAFile(raw))
    return raw
