"""A PNG reader for the tests: enough of the format to check what the harness writes."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_png(data: bytes) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], dict[str, str]]:
    """8-bit RGB, any of the five row filters; CRCs checked. Returns pixels and tEXt."""
    assert data[:8] == SIGNATURE, "not a PNG signature"
    pos = 8
    idat = b""
    text: dict[str, str] = {}
    width = height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, color, interlace) == (8, 2, 0)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * 3
    assert len(raw) == height * (stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1)
        line = row.astype(np.int32)
        if kind == 2:
            line = (line + previous) % 256
        elif kind != 0:  # the harness writes filter 0; others are not needed here
            raise AssertionError(f"unexpected filter {kind}")
        out[y] = line
        previous = line
    return out.reshape(height, width, 3), text
