"""`mlenv reproduce`'s verdicts: recorded vs reproduced figures and the three
artifact-evaluation badges (available, functional, reproduced). Pure: no files, no rendering
(the report pages are `mlenv.ops.reportview`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MODES_ORDER = ("performance", "accuracy")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


LATENCIES = ("p50", "p90", "p99")


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One recorded figure and its reproduction. rule: exact | tolerance | info (not judged)."""

    scenario: str
    mode: str
    metric: str
    recorded: Any
    reproduced: Any
    rule: str
    ok: bool | None

    @property
    def delta_pct(self) -> float | None:
        r, n = self.recorded, self.reproduced
        if _number(r) and _number(n) and r:
            return float((n - r) / abs(r) * 100.0)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "delta_pct": self.delta_pct}


@dataclass(frozen=True, slots=True, kw_only=True)
class Badge:
    name: str  # available | functional | reproduced
    awarded: bool
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"awarded": self.awarded, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Reproduction:
    bundle: str
    target: str
    lock: str
    tolerance: float
    badges: tuple[Badge, ...]
    figures: tuple[Figure, ...] = ()
    env_differences: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    paths: Mapping[str, str] = field(default_factory=dict)
    recorded_facts: Mapping[str, Any] = field(default_factory=dict)  # the locked target's
    machine: Mapping[str, Any] = field(default_factory=dict)  # the host that reproduced it

    @property
    def reproduced(self) -> bool:
        return all(b.awarded for b in self.badges)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "ok": self.reproduced,
            "bundle": self.bundle,
            "target": self.target,
            "lock": self.lock,
            "tolerance_pct": self.tolerance,
            "badges": {b.name: b.to_dict() for b in self.badges},
            "figures": [f.to_dict() for f in self.figures],
            "environment_differences": list(self.env_differences),
            "failures": list(self.failures),
            "paths": dict(self.paths),
            "machines": {"recorded": dict(self.recorded_facts), "reproduced": dict(self.machine)},
        }


def _key(doc: Mapping[str, Any]) -> tuple[str, str]:
    return str(doc.get("scenario")), str(doc.get("mode"))


def _order(doc: Mapping[str, Any]) -> tuple[str, int]:
    mode = doc.get("mode")
    return str(doc.get("scenario")), MODES_ORDER.index(mode) if mode in MODES_ORDER else 9


def _within(recorded: Any, reproduced: Any, tolerance: float) -> bool:
    if not isinstance(recorded, int | float) or not isinstance(reproduced, int | float):
        return False
    if not recorded:
        return not reproduced
    return abs(reproduced - recorded) / abs(recorded) * 100.0 <= tolerance + 1e-9


Row = tuple[str, Any, Any, str, "bool | None"]  # metric, recorded, reproduced, rule, ok


def _rows(rec: Mapping[str, Any], new: Mapping[str, Any], tolerance: float) -> list[Row]:
    rows: list[Row] = []
    if rec.get("mode") == "accuracy":
        acc, acc_new = rec.get("accuracy") or {}, new.get("accuracy") or {}
        for metric, value in sorted(acc.items()):
            other = acc_new.get(metric)
            rows.append((metric, value, other, "exact", bool(new) and other == value))
        if not acc:
            rows.append(("accuracy", None, acc_new or None, "exact", bool(new)))
        return rows
    valid, valid_new = rec.get("valid"), new.get("valid")
    rows.append(("valid", valid, valid_new, "exact", bool(new) and valid_new == valid))
    sps, sps_new = rec.get("samples_per_second"), new.get("samples_per_second")
    ok = _within(sps, sps_new, tolerance)
    rows.append(("samples_per_second", sps, sps_new, "tolerance", ok))
    lat, lat_new = rec.get("latency_ns") or {}, new.get("latency_ns") or {}
    for p in (p for p in LATENCIES if lat.get(p) is not None):
        rows.append((f"latency_ns.{p}", lat.get(p), lat_new.get(p), "info", None))
    return rows


def compare(
    recorded: Sequence[Mapping[str, Any]],
    reproduced: Sequence[Mapping[str, Any]],
    tolerance: float,
) -> list[Figure]:
    """Accuracy must match exactly, validity too; samples/s within `tolerance` percent
    (either way); latency percentiles are shown but not judged."""
    again = {_key(d): d for d in reproduced}
    out: list[Figure] = []
    for rec in sorted(recorded, key=_order):
        scenario, mode = _key(rec)
        for metric, a, b, rule, ok in _rows(rec, again.get((scenario, mode), {}), tolerance):
            figure = Figure(
                scenario=scenario,
                mode=mode,
                metric=metric,
                recorded=a,
                reproduced=b,
                rule=rule,
                ok=ok,
            )
            out.append(figure)
    return out


def badges(
    *,
    missing: Sequence[str],
    verified_files: int,
    local: Sequence[str],
    failures: Sequence[str],
    runs: int,
    figures: Sequence[Figure],
    tolerance: float,
) -> tuple[Badge, ...]:
    available = Badge(
        name="available",
        awarded=not missing,
        reasons=(
            (f"{verified_files} files, every sha256 verified; nothing the lock pins is missing",)
            if not missing
            else tuple(f"missing: {m}" for m in missing)
        )
        + tuple(f"user-supplied data (not redistributable): ${v}" for v in local),
    )
    functional = Badge(
        name="functional",
        awarded=not failures,
        reasons=tuple(failures)
        or (f"installed offline from the bundle and ran {runs} recorded run(s)",),
    )
    judged = [f for f in figures if f.rule != "info"]
    bad = [f for f in judged if not f.ok]
    if not judged:
        reasons: tuple[str, ...] = ("the bundle records no results to compare",)
    elif bad:
        reasons = tuple(_why(f, tolerance) for f in bad)
    else:
        reasons = (
            f"{len(judged)} figures: accuracy and validity identical, samples/s within "
            f"{tolerance:g} %",
        )
    reproduced = Badge(
        name="reproduced", awarded=bool(judged) and not bad and functional.awarded, reasons=reasons
    )
    return available, functional, reproduced


def _why(f: Figure, tolerance: float) -> str:
    text = f"{f.scenario} {f.mode} {f.metric}: recorded {fmt(f.recorded)}, reproduced "
    text += fmt(f.reproduced)
    if f.rule == "tolerance" and f.delta_pct is not None:
        text += f" ({f.delta_pct:+.1f} %, tolerance {tolerance:g} %)"
    return text


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "VALID", False: "INVALID", None: "-"}[value]
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int | float):
        return f"{value:,.0f}"
    return str(value)
