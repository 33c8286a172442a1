"""The QSL cache: preprocessed samples on disk as ``.npy`` files, read back memory-mapped.

One folder per (dataset bytes, preprocessor, parameters, sample count), named after the
sha256 of those: ``<cache_dir>/<preprocessor>-<key>/`` holding ``input_<i>.npy`` (model input
``i``, written in place by the preprocessor through ``allocate``), ``labels.npy`` or
``labels.json``, and ``meta.json``. A folder is built under a temporary name and renamed
into place, so a reader sees a whole entry or none; two runs racing keep the first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from numpy.typing import NDArray

from ..errors import HarnessError
from ..report import Reporter
from .dataset import Dataset, Preprocessor, in_memory

CACHE_VERSION = 1
META = "meta.json"


def cache_key(name: str, params: Mapping[str, object], samples: int, digest: str) -> str:
    blob = json.dumps(
        {
            "cache": CACHE_VERSION,
            "preprocess": name,
            "params": params,
            "samples": samples,
            "data": digest,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def data_digest(path: Path) -> str:
    """sha256 of a dataset file; for a folder, of its listing (names, sizes, mtimes).

    `mlenv run` passes the lock's hash instead, so that a large dataset is never re-read.
    """
    h = hashlib.sha256()
    if path.is_dir():
        for item in sorted(path.rglob("*")):
            if item.is_file():
                st = item.stat()
                h.update(f"{item.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return f"tree:{h.hexdigest()}"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def load_dataset(
    preprocess: Preprocessor,
    *,
    name: str,
    path: Path,
    params: Mapping[str, object],
    samples: int,
    cache_dir: Path | None,
    digest: str | None,
    report: Reporter,
) -> Dataset:
    """The preprocessed dataset: from the cache when it holds it, else made (and cached)."""
    if cache_dir is None:
        return preprocess(path, params, samples, in_memory)
    key = cache_key(name, params, samples, digest or data_digest(path))
    folder = cache_dir / f"{name}-{key[:24]}"
    if (folder / META).is_file():
        cached = _read(folder)
        if cached is not None:
            report.info(f"preprocessed samples from the cache {folder}")
            return cached
        shutil.rmtree(folder, ignore_errors=True)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
    except OSError as e:
        report.warn(f"cannot use the cache folder {cache_dir} ({e.strerror}); not caching")
        return preprocess(path, params, samples, in_memory)
    try:
        dataset = preprocess(path, params, samples, _allocator(building))
        _write(building, dataset, key)
        with contextlib.suppress(OSError):  # another run put the same entry in place first
            os.rename(building, folder)
    except OSError as e:
        report.warn(f"cannot write the cache {building} ({e.strerror}); not caching")
        return preprocess(path, params, samples, in_memory)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    cached = _read(folder)
    if cached is None:
        raise HarnessError(f"the QSL cache {folder} cannot be read back", hint="delete it")
    report.info(f"preprocessed {samples} samples into the cache {folder}")
    return cached


def _allocator(folder: Path) -> Any:
    made: list[int] = []

    def allocate(shape: tuple[int, ...], dtype: str) -> NDArray[Any]:
        index = len(made)
        made.append(index)
        return open_memmap(folder / f"input_{index}.npy", mode="w+", dtype=dtype, shape=shape)

    return allocate


def _write(folder: Path, dataset: Dataset, key: str) -> None:
    for i, array in enumerate(dataset.features):
        target = folder / f"input_{i}.npy"
        if isinstance(array, np.memmap) and _same(array.filename, target):
            array.flush()  # written in place (never np.save over a file that is mapped)
        else:
            np.save(target, np.ascontiguousarray(array), allow_pickle=False)
    labels = dataset.labels
    if isinstance(labels, np.ndarray):
        np.save(folder / "labels.npy", labels, allow_pickle=False)
        kind = "npy"
    else:
        (folder / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
        kind = "json"
    meta = {"version": CACHE_VERSION, "key": key, "inputs": len(dataset.features), "labels": kind}
    (folder / META).write_text(json.dumps(meta), encoding="utf-8")


def _same(filename: object, target: Path) -> bool:
    return filename is not None and target.exists() and os.path.samefile(str(filename), target)


def _read(folder: Path) -> Dataset | None:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if meta.get("version") != CACHE_VERSION:
            return None
        features = tuple(
            np.load(folder / f"input_{i}.npy", mmap_mode="r", allow_pickle=False)
            for i in range(int(meta["inputs"]))
        )
        if meta["labels"] == "npy":
            labels: Any = np.load(folder / "labels.npy", allow_pickle=False)
        else:
            labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Dataset(features=features, labels=labels)
