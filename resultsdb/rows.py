"""What queries hand back: one `RunRow` per recorded run (or failed point), one `PointRow` per
point; and `lookup`, the dotted-path reader every filter and objective uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# CONTRACTS §13's columns of `mlenv results list`, in order (plus `origin`)
COLUMNS = (
    "run_id",
    "point_id",
    "sweep",
    "benchmark",
    "dataset",
    "scenario",
    "mode",
    "valid",
    "samples_per_second",
    "latency_ns",
    "accuracy",
    "energy",
    "parameters",
    "lock",
    "target",
    "backend",
    "profile",
    "status",
    "error",
    "origin",
)

_MISSING = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """One run: a recorded result.json (`status` ok) or a failed point (`status` failed, with
    `error` and `stage`). `document` is the result.json document, whole; `logs` maps each
    LoadGen file name to the sha256 of its bytes (`ResultsDB.log` returns them)."""

    run_id: str
    point_id: str
    sweep: str | None
    status: str
    origin: str
    recorded_at: float
    parameters: Mapping[str, Any] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None
    stage: str | None = None
    point_lock: str | None = None
    point_target: str | None = None
    logs: Mapping[str, str] = field(default_factory=dict)

    def _doc(self, key: str) -> Any:
        return self.document.get(key)

    @property
    def benchmark(self) -> str | None:
        return self._doc("benchmark")

    @property
    def dataset(self) -> str | None:
        return self._doc("dataset")

    @property
    def scenario(self) -> str | None:
        return self._doc("scenario")

    @property
    def mode(self) -> str | None:
        return self._doc("mode")

    @property
    def lock(self) -> str | None:
        return self._doc("lock") or self.point_lock

    @property
    def target(self) -> str | None:
        target = self._doc("target")
        if isinstance(target, Mapping):
            return target.get("name") or self.point_target
        return target or self.point_target

    def to_dict(self) -> dict[str, Any]:
        """CONTRACTS §13's columns (and `origin`)."""
        doc = self.document
        return {
            "run_id": self.run_id,
            "point_id": self.point_id,
            "sweep": self.sweep,
            "benchmark": doc.get("benchmark"),
            "dataset": doc.get("dataset"),
            "scenario": doc.get("scenario"),
            "mode": doc.get("mode"),
            "valid": doc.get("valid"),
            "samples_per_second": doc.get("samples_per_second"),
            "latency_ns": doc.get("latency_ns"),
            "accuracy": doc.get("accuracy"),
            "energy": doc.get("energy"),
            "parameters": dict(self.parameters),
            "lock": self.lock,
            "target": self.target,
            "backend": doc.get("backend"),
            "profile": doc.get("profile"),
            "status": self.status,
            "error": dict(self.error) if self.error is not None else None,
            "origin": self.origin,
        }

    def value(self, path: str) -> Any:
        """A field by dotted path: a §13 column (`samples_per_second`, `status`), a point
        parameter (`parameters.benchmark.threads`), or any field of the result document
        (`latency_ns.p90`, `backend.name`, `settings.target_qps`); None when absent."""
        head, _, rest = path.partition(".")
        if head == "parameters" and rest:
            return lookup(self.parameters, rest)
        columns = self.to_dict()
        if not rest and head in columns:
            return columns[head]
        found = lookup(self.document, path)
        if found is None and head in columns and isinstance(columns[head], Mapping):
            return lookup(columns[head], rest)
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class PointRow:
    """One point: a configuration (its derived manifest and lock digest) and its runs."""

    point_id: str
    sweeps: tuple[str, ...]
    parameters: Mapping[str, Any]
    manifest: str
    lock: str | None
    target: str | None
    origin: str
    status: str | None  # ok | failed | None (nothing recorded yet)
    runs: tuple[RunRow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "point_id": self.point_id,
            "sweeps": list(self.sweeps),
            "parameters": dict(self.parameters),
            "manifest": self.manifest,
            "lock": self.lock,
            "target": self.target,
            "origin": self.origin,
            "status": self.status,
            "runs": [r.to_dict() for r in self.runs],
        }


def lookup(data: Any, path: str) -> Any:
    """`data` at dotted `path`; a key that itself holds dots (`benchmark.threads`, a sweep
    axis) is matched whole first. None when absent."""
    found = _lookup(data, path)
    return None if found is _MISSING else found


def _lookup(data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        return _MISSING
    if path in data:
        return data[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if head in data:
            found = _lookup(data[head], ".".join(parts[i:]))
            if found is not _MISSING:
                return found
    return _MISSING


def text_of(value: Any) -> str:
    """How `--where KEY=VALUE` compares: JSON's spelling of booleans and null, numbers as
    written (1 and 1.0 both match "1")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def matches(row: RunRow, where: Mapping[str, str]) -> bool:
    for key, wanted in where.items():
        value = row.value(key)
        if text_of(value) != wanted and not _number_equal(value, wanted):
            return False
    return True


def _number_equal(value: Any, wanted: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return float(wanted) == float(value)
    except ValueError:
        return False
