"""The run config the CLI writes for one test: frozen models and their validation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import fields as f

SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
MODES = ("performance", "accuracy")
COMPLIANCE_TESTS = ("TEST01", "TEST04")
DTYPES = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
CONFIG_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    """A model input or output; -1 in ``shape`` is a dimension of any size (the batch)."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    path: Path
    format: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    path: Path
    samples: int
    performance_sample_count: int
    preprocess: str
    preprocess_params: Mapping[str, object]
    metric: str
    digest: str | None = None  # the lock's hash of the dataset artifact: the QSL cache key


@dataclass(frozen=True, kw_only=True)
class ComplianceSpec:
    """A LoadGen audit test, and the scenario folder holding the runs it is checked against."""

    test: str  # TEST01 | TEST04
    reference_dir: Path  # <scenario>/ with performance/run_1/ and accuracy/


@dataclass(frozen=True, kw_only=True)
class BackendSpec:
    name: str
    version: str | None
    threads: int
    max_batch: int
    workers: int = 0  # 0: as many as the cores allow at ``threads`` each
    max_delay_us: int = 100  # Server: how long a partial batch waits for more queries


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    benchmark: str
    dataset: str
    scenario: str
    mode: str
    output_dir: Path
    model: ModelSpec
    data: DataSpec
    backend: BackendSpec
    settings: Mapping[str, object]
    lock: str | None = None
    target_name: str | None = None
    target_facts: Mapping[str, object] = field(default_factory=dict)
    cache_dir: Path | None = None  # preprocessed samples, memory-mapped; None: no cache
    compliance: ComplianceSpec | None = None
    watchdog_s: int = 600  # no sample completed for this long while some are due: abort

    @classmethod
    def from_dict(cls, d: object, *, source: str) -> RunConfig:
        p = f.Problems()
        top = f.section(
            p,
            d,
            "",
            required=(
                "version",
                "benchmark",
                "dataset",
                "scenario",
                "mode",
                "output_dir",
                "model",
                "data",
                "backend",
            ),
            optional=("settings", "lock", "target", "cache_dir", "compliance", "watchdog_s"),
        )
        version = top.get("version")
        if "version" in top and version != CONFIG_VERSION:
            p.add("version", f"this harness reads version {CONFIG_VERSION}, found {version!r}")
            p.raise_if_any(source, hint="run the harness that ships with this mlenv")
        benchmark = f.string(p, top, "benchmark", "")
        if benchmark and not _NAME.fullmatch(benchmark):
            p.add("benchmark", f"{benchmark!r} is not a name (letters, digits, '.', '_', '-')")
        target = f.section(
            p, top.get("target", {}), "target", required=(), optional=("name", "facts")
        )
        config = cls(
            benchmark=benchmark,
            dataset=f.string(p, top, "dataset", ""),
            scenario=f.choice(p, top, "scenario", "", SCENARIOS),
            mode=f.choice(p, top, "mode", "", MODES),
            output_dir=f.absolute_path(p, top, "output_dir", ""),
            model=_model(p, top.get("model")),
            data=_data(p, top.get("data")),
            backend=_backend(p, top.get("backend")),
            settings=f.mapping(p, top, "settings", ""),
            lock=f.optional_string(p, top, "lock", ""),
            target_name=f.optional_string(p, target, "name", "target"),
            target_facts=f.mapping(p, target, "facts", "target"),
            cache_dir=f.absolute_path(p, top, "cache_dir", "") if "cache_dir" in top else None,
            compliance=_compliance(p, top["compliance"]) if "compliance" in top else None,
            watchdog_s=f.integer(p, top, "watchdog_s", "", minimum=1, default=600),
        )
        p.raise_if_any(source, hint="the run config is written by `mlenv run`; re-run it")
        return config


def _model(p: f.Problems, value: object) -> ModelSpec:
    d = f.section(p, value, "model", required=("path", "format", "inputs", "outputs"))
    return ModelSpec(
        path=f.absolute_path(p, d, "path", "model"),
        format=f.string(p, d, "format", "model"),
        inputs=_tensors(p, d, "inputs"),
        outputs=_tensors(p, d, "outputs"),
    )


def _tensors(p: f.Problems, d: Mapping[str, object], key: str) -> tuple[TensorSpec, ...]:
    path = f.join("model", key)
    specs = []
    for i, item in enumerate(f.items(p, d, key, "model")):
        here = f.join(path, i)
        t = f.section(p, item, here, required=("name", "shape", "dtype"))
        shape = []
        for j, dim in enumerate(f.items(p, t, "shape", here)):
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < -1 or dim == 0:
                p.add(f.join(f.join(here, "shape"), j), f"expected a size > 0 or -1, found {dim!r}")
            else:
                shape.append(dim)
        specs.append(
            TensorSpec(
                name=f.string(p, t, "name", here),
                shape=tuple(shape),
                dtype=f.choice(p, t, "dtype", here, DTYPES),
            )
        )
    if not specs and key in d:
        p.add(path, "expected at least one tensor")
    return tuple(specs)


def _data(p: f.Problems, value: object) -> DataSpec:
    d = f.section(
        p,
        value,
        "data",
        required=("path", "samples", "preprocess", "metric"),
        optional=("performance_sample_count", "digest"),
    )
    samples = f.integer(p, d, "samples", "data", minimum=1, default=1)
    performance = f.integer(p, d, "performance_sample_count", "data", minimum=1, default=samples)
    if performance > samples:
        p.add(
            "data.performance_sample_count", f"{performance} is more than data.samples ({samples})"
        )
    step = f.section(
        p, d.get("preprocess"), "data.preprocess", required=("name",), optional=("params",)
    )
    return DataSpec(
        path=f.absolute_path(p, d, "path", "data"),
        samples=samples,
        performance_sample_count=performance,
        preprocess=f.string(p, step, "name", "data.preprocess"),
        preprocess_params=f.mapping(p, step, "params", "data.preprocess"),
        metric=f.string(p, d, "metric", "data"),
        digest=f.optional_string(p, d, "digest", "data"),
    )


def _backend(p: f.Problems, value: object) -> BackendSpec:
    d = f.section(
        p,
        value,
        "backend",
        required=("name",),
        optional=("version", "threads", "max_batch", "workers", "max_delay_us"),
    )
    return BackendSpec(
        name=f.string(p, d, "name", "backend"),
        version=f.optional_string(p, d, "version", "backend"),
        threads=f.integer(p, d, "threads", "backend", minimum=0, default=0),
        max_batch=f.integer(p, d, "max_batch", "backend", minimum=1, default=1024),
        workers=f.integer(p, d, "workers", "backend", minimum=0, default=0),
        max_delay_us=f.integer(p, d, "max_delay_us", "backend", minimum=0, default=100),
    )


def _compliance(p: f.Problems, value: object) -> ComplianceSpec:
    d = f.section(p, value, "compliance", required=("test", "reference_dir"))
    return ComplianceSpec(
        test=f.choice(p, d, "test", "compliance", COMPLIANCE_TESTS),
        reference_dir=f.absolute_path(p, d, "reference_dir", "compliance"),
    )
