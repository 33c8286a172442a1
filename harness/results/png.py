"""A minimal PNG encoder (8-bit RGB, no filtering, zlib) and a 3x5 pixel font for labels."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_png(pixels: NDArray[np.uint8], text: Mapping[str, str] | None = None) -> bytes:
    """``pixels`` is [height, width, 3] uint8; ``text`` becomes tEXt chunks (Latin-1)."""
    height, width, channels = pixels.shape
    if channels != 3 or pixels.dtype != np.uint8:
        raise ValueError("expected [height, width, 3] uint8 pixels")
    rows = np.zeros((height, 1 + width * 3), dtype=np.uint8)  # filter byte 0 = none
    rows[:, 1:] = pixels.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    chunks.append(_chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)))
    chunks.append(_chunk(b"IEND", b""))
    return SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


# Each glyph: 5 rows of 3 pixels, a row as an octal digit (4 = left pixel, 1 = right).
_GLYPHS: Mapping[str, str] = {
    "0": "75557",
    "1": "26227",
    "2": "71747",
    "3": "71717",
    "4": "55711",
    "5": "74717",
    "6": "74757",
    "7": "71111",
    "8": "75757",
    "9": "75717",
    ".": "00002",
    " ": "00000",
    "-": "00700",
    "p": "07574",
    "m": "07755",
    "s": "34216",
    "u": "05557",
    "n": "06555",
}


def draw_text(
    canvas: NDArray[np.uint8], text: str, x: int, y: int, color: Any, *, scale: int = 2
) -> None:
    """Write ``text`` with its top-left corner at (x, y); unknown characters are blanks."""
    for ch in text:
        rows = _GLYPHS.get(ch, "00000")
        for r, digit in enumerate(rows):
            bits = int(digit, 8)
            for c in range(3):
                if bits & (4 >> c):
                    top, left = y + r * scale, x + c * scale
                    canvas[top : top + scale, left : left + scale] = color
        x += 4 * scale


def text_width(text: str, *, scale: int = 2) -> int:
    return len(text) * 4 * scale - scale
