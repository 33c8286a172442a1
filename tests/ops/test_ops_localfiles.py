"""The local-file hash cache: keyed by (path, size, mtime_ns), bounded, never for remote urls."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from mlenv.ops import localfiles as L


class _P:
    def __init__(self, root: Path) -> None:
        self.project_dir = root


def test_local_path_only_for_project_files(tmp_path: Path) -> None:
    p: Any = _P(tmp_path)
    assert L.local_path(p, "./recipes/models/x.onnx") == tmp_path / "recipes/models/x.onnx"
    assert L.local_path(p, "file:///data/m%20x.onnx") == Path("/data/m x.onnx")
    for url in ("https://h/x.onnx", "builtin:models/x.onnx", None, ""):
        assert L.local_path(p, url) is None


def test_unchanged_file_is_not_rehashed(tmp_path: Path) -> None:
    f = tmp_path / "m.bin"
    f.write_bytes(b"one")
    cache: dict[str, Any] = {}
    assert L.file_sha256(f, cache) == hashlib.sha256(b"one").hexdigest()
    key = str(f.resolve())
    cache[key][2] = "cached"  # same size and mtime: the cache answers
    assert L.file_sha256(f, cache) == "cached"
    st = f.stat()
    f.write_bytes(b"two")  # same size; a new mtime_ns re-hashes
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert L.file_sha256(f, cache) == hashlib.sha256(b"two").hexdigest()


def test_cache_is_bounded_and_survives_garbage(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    cache = {f"/f{i}": [1, i, "h"] for i in range(L.CACHE_LIMIT + 10)}
    L._save_cache(path, cache)
    loaded = L._load_cache(path)
    assert len(loaded) == L.CACHE_LIMIT and "/f0" not in loaded
    path.write_text("{not json")
    assert L._load_cache(path) == {}
