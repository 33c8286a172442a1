"""The run config of one test: ONE declaration of its schema, read by the harness and written by
`mlenv run` (`mlenv.ops.benchrun.run_config` builds a `RunConfig` and writes its `to_dict()`).

Each part is a frozen dataclass with `from_dict` (every problem collected, each under its dotted
path: an unknown key, a missing one, a wrong type) and `to_dict` (the JSON document); the keys
each part accepts are declared once, in its `KEYS`, and used by both. This module imports only
the standard library, so the mlenv side may import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

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


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys of one object of the document: those it must have, those it may have."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def read(self, p: f.Problems, value: object, path: str) -> Mapping[str, object]:
        return f.section(p, value, path, required=self.required, optional=self.optional)

    def check(self, out: dict[str, Any]) -> dict[str, Any]:
        """A document part being written holds only declared keys (a writer bug otherwise)."""
        unknown = set(out) - set(self.required) - set(self.optional)
        missing = set(self.required) - set(out)
        if unknown or missing:
            raise ValueError(
                f"run config part: unknown {sorted(unknown)}, missing {sorted(missing)}"
            )
        return out


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    """A model input or output; -1 in ``shape`` is a dimension of any size (the batch)."""

    KEYS: ClassVar[Keys] = Keys(("name", "shape", "dtype"))

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return self.KEYS.check({"name": self.name, "shape": list(self.shape), "dtype": self.dtype})


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    KEYS: ClassVar[Keys] = Keys(("path", "format", "inputs", "outputs"))

    path: Path
    format: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return self.KEYS.check(
            {
                "path": str(self.path),
                "format": self.format,
                "inputs": [t.to_dict() for t in self.inputs],
                "outputs": [t.to_dict() for t in self.outputs],
            }
        )


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    KEYS: ClassVar[Keys] = Keys(
        ("path", "samples", "preprocess", "metric"), ("performance_sample_count", "digest")
    )
    PREPROCESS_KEYS: ClassVar[Keys] = Keys(("name",), ("params",))

    path: Path
    samples: int
    performance_sample_count: int
    preprocess: str
    preprocess_params: Mapping[str, object]
    metric: str
    digest: str | None = None  # the lock's hash of the dataset artifact: the QSL cache key

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": str(self.path),
            "samples": self.samples,
            "performance_sample_count": self.performance_sample_count,
            "preprocess": self.PREPROCESS_KEYS.check(
                {"name": self.preprocess, "params": dict(self.preprocess_params)}
            ),
            "metric": self.metric,
        }
        if self.digest is not None:
            out["digest"] = self.digest
        return self.KEYS.check(out)


@dataclass(frozen=True, kw_only=True)
class ComplianceSpec:
    """A LoadGen audit test, and the scenario folder holding the runs it is checked against."""

    KEYS: ClassVar[Keys] = Keys(("test", "reference_dir"))

    test: str  # TEST01 | TEST04
    reference_dir: Path  # <scenario>/ with performance/run_1/ and accuracy/

    def to_dict(self) -> dict[str, Any]:
        return self.KEYS.check({"test": self.test, "reference_dir": str(self.reference_dir)})


@dataclass(frozen=True, kw_only=True)
class BackendSpec:
    KEYS: ClassVar[Keys] = Keys(
        ("name",), ("version", "threads", "max_batch", "workers", "max_delay_us")
    )

    name: str
    version: str | None
    threads: int
    max_batch: int
    workers: int = 0  # 0: as many as the cores allow at ``threads`` each
    max_delay_us: int = 100  # Server: how long a partial batch waits for more queries

    def to_dict(self) -> dict[str, Any]:
        return self.KEYS.check(
            {
                "name": self.name,
                "version": self.version,
                "threads": self.threads,
                "max_batch": self.max_batch,
                "workers": self.workers,
                "max_delay_us": self.max_delay_us,
            }
        )


@dataclass(frozen=True, kw_only=True)
class Calibrate:
    """Which knobs the harness may choose itself in a performance run (true: the user did not
    fix it): ``max-batch``, ``workers`` and ``threads`` for throughput, ``expected`` for
    LoadGen's expected QPS/latency (``target_qps``/``target_latency`` when the settings name
    none of them for the scenario)."""

    KEYS: ClassVar[Keys] = Keys((), ("max-batch", "workers", "threads", "expected"))

    max_batch: bool = False
    workers: bool = False
    threads: bool = False
    expected: bool = False

    def any(self) -> bool:
        return self.max_batch or self.workers or self.threads or self.expected

    def to_dict(self) -> dict[str, Any]:
        return self.KEYS.check(
            {
                "max-batch": self.max_batch,
                "workers": self.workers,
                "threads": self.threads,
                "expected": self.expected,
            }
        )


PROBE_BUDGET_S = 3.0


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    KEYS: ClassVar[Keys] = Keys(
        (
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
        (
            "settings",
            "lock",
            "target",
            "cache_dir",
            "compliance",
            "watchdog_s",
            "calibrate",
            "samples",
            "probe_budget_s",
        ),
    )
    TARGET_KEYS: ClassVar[Keys] = Keys((), ("name", "facts"))

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
    calibrate: Calibrate = field(default_factory=Calibrate)
    samples: int | None = None  # a subset: the first N samples of the dataset
    probe_budget_s: float = PROBE_BUDGET_S  # the calibration probe's time cap

    @property
    def data_used(self) -> DataSpec:
        """The dataset as this run uses it: its first ``samples`` when a subset is asked for."""
        if self.samples is None:
            return self.data
        return replace(
            self.data,
            samples=self.samples,
            performance_sample_count=min(self.data.performance_sample_count, self.samples),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document `from_dict` reads back to an equal value."""
        out: dict[str, Any] = {
            "version": CONFIG_VERSION,
            "benchmark": self.benchmark,
            "dataset": self.dataset,
            "scenario": self.scenario,
            "mode": self.mode,
            "output_dir": str(self.output_dir),
            "model": self.model.to_dict(),
            "data": self.data.to_dict(),
            "backend": self.backend.to_dict(),
            "settings": dict(self.settings),
            "lock": self.lock,
            "target": self.TARGET_KEYS.check(
                {"name": self.target_name, "facts": dict(self.target_facts)}
            ),
            "watchdog_s": self.watchdog_s,
            "calibrate": self.calibrate.to_dict(),
            "probe_budget_s": self.probe_budget_s,
        }
        if self.samples is not None:
            out["samples"] = self.samples
        if self.cache_dir is not None:
            out["cache_dir"] = str(self.cache_dir)
        if self.compliance is not None:
            out["compliance"] = self.compliance.to_dict()
        return self.KEYS.check(out)

    @classmethod
    def from_dict(cls, d: object, *, source: str) -> RunConfig:
        p = f.Problems()
        top = cls.KEYS.read(p, d, "")
        version = top.get("version")
        if "version" in top and version != CONFIG_VERSION:
            p.add("version", f"this harness reads version {CONFIG_VERSION}, found {version!r}")
            p.raise_if_any(source, hint="run the harness that ships with this mlenv")
        benchmark = f.string(p, top, "benchmark", "")
        if benchmark and not _NAME.fullmatch(benchmark):
            p.add("benchmark", f"{benchmark!r} is not a name (letters, digits, '.', '_', '-')")
        target = cls.TARGET_KEYS.read(p, top.get("target", {}), "target")
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
            calibrate=_calibrate(p, top.get("calibrate", {})),
            samples=f.integer(p, top, "samples", "", minimum=1) if "samples" in top else None,
            probe_budget_s=f.number(p, top, "probe_budget_s", "", default=PROBE_BUDGET_S),
        )
        if config.samples is not None and config.samples > config.data.samples:
            p.add(
                "samples",
                f"{config.samples} is more than the dataset recipe's {config.data.samples} samples",
            )
        p.raise_if_any(source, hint="the run config is written by `mlenv run`; re-run it")
        return config


def _model(p: f.Problems, value: object) -> ModelSpec:
    d = ModelSpec.KEYS.read(p, value, "model")
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
        t = TensorSpec.KEYS.read(p, item, here)
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
    d = DataSpec.KEYS.read(p, value, "data")
    samples = f.integer(p, d, "samples", "data", minimum=1, default=1)
    performance = f.integer(p, d, "performance_sample_count", "data", minimum=1, default=samples)
    if performance > samples:
        p.add(
            "data.performance_sample_count", f"{performance} is more than data.samples ({samples})"
        )
    step = DataSpec.PREPROCESS_KEYS.read(p, d.get("preprocess"), "data.preprocess")
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
    d = BackendSpec.KEYS.read(p, value, "backend")
    return BackendSpec(
        name=f.string(p, d, "name", "backend"),
        version=f.optional_string(p, d, "version", "backend"),
        threads=f.integer(p, d, "threads", "backend", minimum=0, default=0),
        max_batch=f.integer(p, d, "max_batch", "backend", minimum=1, default=1024),
        workers=f.integer(p, d, "workers", "backend", minimum=0, default=0),
        max_delay_us=f.integer(p, d, "max_delay_us", "backend", minimum=0, default=100),
    )


def _calibrate(p: f.Problems, value: object) -> Calibrate:
    d = Calibrate.KEYS.read(p, value, "calibrate")
    return Calibrate(
        max_batch=f.boolean(p, d, "max-batch", "calibrate"),
        workers=f.boolean(p, d, "workers", "calibrate"),
        threads=f.boolean(p, d, "threads", "calibrate"),
        expected=f.boolean(p, d, "expected", "calibrate"),
    )


def _compliance(p: f.Problems, value: object) -> ComplianceSpec:
    d = ComplianceSpec.KEYS.read(p, value, "compliance")
    return ComplianceSpec(
        test=f.choice(p, d, "test", "compliance", COMPLIANCE_TESTS),
        reference_dir=f.absolute_path(p, d, "reference_dir", "compliance"),
    )
