"""The model's size for result.json: bytes on disk and, where cheap, its parameter count.

- bytes: the model file's size, or the total of a folder's files; an OpenVINO IR ``.xml``
  counts its ``.bin`` beside it.
- parameters: from the backend when it can count them (``parameter_count()``: torch sums
  ``numel`` of the module's parameters); for an ONNX file, the elements of the graph's
  initializers, read by a small protobuf walk that skips every payload by its length (no
  ``onnx`` package needed, and the weights themselves are never read); else ``None``.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import ModelSpec

# protobuf field numbers (onnx.proto3): ModelProto.graph, GraphProto.initializer,
# TensorProto.dims
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_TENSOR_DIMS = 1
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def model_info(model: ModelSpec, backend: object) -> dict[str, int | None]:
    return {"bytes": model_bytes(model.path), "parameters": parameters(model, backend)}


def model_bytes(path: Path) -> int | None:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        size = path.stat().st_size
        weights = path.with_suffix(".bin")
        if path.suffix == ".xml" and weights.is_file():
            size += weights.stat().st_size
        return size
    except OSError:
        return None


def parameters(model: ModelSpec, backend: object) -> int | None:
    count = getattr(backend, "parameter_count", None)
    if callable(count):
        try:
            value = count()
        except Exception:  # an engine's own failure: the count is optional
            return None
        return int(value) if isinstance(value, int) else None
    if model.format == "onnx" and model.path.is_file():
        return onnx_parameters(model.path)
    return None


def onnx_parameters(path: Path) -> int | None:
    """Elements of the top-level graph's initializers; None when the file is not an ONNX
    model this walk can read."""
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            view = memoryview(data)
            try:
                total = 0
                for start, end in _fields(view, 0, len(view), _MODEL_GRAPH):
                    for t_start, t_end in _fields(view, start, end, _GRAPH_INITIALIZER):
                        total += _elements(view, t_start, t_end)
                return total
            finally:
                view.release()
    except (OSError, ValueError):
        return None


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _walk(data: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value or (start, end)) of each field in data[pos:end]."""
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos, end)
            yield number, wire, value
        elif wire == _BYTES:
            length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise ValueError("truncated field")
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
        else:
            raise ValueError(f"wire type {wire}")
    if pos != end:
        raise ValueError("truncated message")


def _fields(data: memoryview, pos: int, end: int, number: int) -> list[tuple[int, int]]:
    return [v for n, w, v in _walk(data, pos, end) if n == number and w == _BYTES]


def _elements(data: memoryview, pos: int, end: int) -> int:
    dims: list[int] = []
    for number, wire, value in _walk(data, pos, end):
        if number != _TENSOR_DIMS:
            continue
        if wire == _VARINT:
            dims.append(value)
        elif wire == _BYTES:  # packed
            p, stop = value
            while p < stop:
                dim, p = _varint(data, p, stop)
                dims.append(dim)
    count = 1
    for dim in dims:
        count *= dim
    return count
