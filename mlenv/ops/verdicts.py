"""`mlenv reproduce`'s verdicts: recorded vs reproduced figures and the three
artifact-evaluation badges (available, functional, reproduced). Pure: no files, no rendering
(the report pages are `mlenv.ops.reportview`).

Noisy machines (CONTRACTS §11): a performance result may list its `repeats`; the figure compared
is then the median of the repeats' samples/s, on each side. The tolerance widens by the spread the
runs themselves show: effective = max(tolerance, SPREAD_FACTOR x spread), where spread is the
larger of the two sides' own relative spreads, (max - min) / median, in percent. Each side's
spread is taken on its own repeats, never on both sides pooled: pooled, the very difference being
judged would count as noise and widen the tolerance past it.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MODES_ORDER = ("performance", "accuracy")
SPREAD_FACTOR = 2.0  # the tolerance is at least this many times the runs' own relative spread


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


LATENCIES = ("p50", "p90", "p99")


def throughputs(doc: Mapping[str, Any]) -> list[float]:
    """The samples/s of every repeat of a result (its one figure when it lists no repeats)."""
    repeats = doc.get("repeats")
    if isinstance(repeats, list):
        found = [
            float(r["samples_per_second"])
            for r in repeats
            if isinstance(r, Mapping) and _number(r.get("samples_per_second"))
        ]
        if found:
            return found
    sps = doc.get("samples_per_second")
    return [float(sps)] if isinstance(sps, int | float) and not isinstance(sps, bool) else []


def spread_pct(values: Sequence[float]) -> float | None:
    """(max - min) / median in percent; None for fewer than two values or a zero median."""
    if len(values) < 2:
        return None
    middle = statistics.median(values)
    return (max(values) - min(values)) / abs(middle) * 100.0 if middle else None


def widened(tolerance: float, *sides: Sequence[float]) -> tuple[float, float | None]:
    """(effective tolerance, the larger spread of the sides) in percent."""
    spreads = [s for s in (spread_pct(side) for side in sides) if s is not None]
    spread = max(spreads, default=None)
    if spread is None:
        return tolerance, None
    return max(tolerance, SPREAD_FACTOR * spread), spread


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
    tolerance: float | None = None  # effective, in percent, for rule `tolerance`
    spread: float | None = None  # the larger relative spread of either side's repeats, percent
    runs: tuple[int, int] = (1, 1)  # repeats recorded, reproduced

    @property
    def delta_pct(self) -> float | None:
        r, n = self.recorded, self.reproduced
        if _number(r) and _number(n) and r:
            return float((n - r) / abs(r) * 100.0)
        return None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tolerance_pct"], out["spread_pct"] = out.pop("tolerance"), out.pop("spread")
        out["runs"] = {"recorded": self.runs[0], "reproduced": self.runs[1]}
        return {**out, "delta_pct": self.delta_pct}


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
    # CPU, cores, memory, accelerators (`mlenv.machine`): recorded in result.json, and here
    recorded_hardware: Mapping[str, Any] = field(default_factory=dict)
    hardware: Mapping[str, Any] = field(default_factory=dict)

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
            "machines": {
                "recorded": {**self.recorded_facts, **self.recorded_hardware},
                "reproduced": {**self.machine, **self.hardware},
            },
        }

    def widenings(self) -> list[str]:
        """One sentence per figure whose tolerance the runs' spread widened."""
        return [
            f"{f.scenario} {f.mode}: tolerance {self.tolerance:g} % widened to {f.tolerance:.3g} % "
            f"by the spread of the runs ({f.spread:.3g} % over {f.runs[0]} recorded and "
            f"{f.runs[1]} reproduced run(s); x{SPREAD_FACTOR:g})"
            for f in self.figures
            if f.tolerance is not None and f.spread is not None and f.tolerance > self.tolerance
        ]


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


def _figure(rec: Mapping[str, Any], metric: str, a: Any, b: Any, rule: str, ok: Any) -> Figure:
    return Figure(
        scenario=str(rec.get("scenario")),
        mode=str(rec.get("mode")),
        metric=metric,
        recorded=a,
        reproduced=b,
        rule=rule,
        ok=ok,
    )


def _accuracy(rec: Mapping[str, Any], new: Mapping[str, Any]) -> list[Figure]:
    acc, acc_new = rec.get("accuracy") or {}, new.get("accuracy") or {}
    rows = [
        _figure(
            rec,
            metric,
            value,
            acc_new.get(metric),
            "exact",
            bool(new) and acc_new.get(metric) == value,
        )
        for metric, value in sorted(acc.items())
    ]
    if not acc:
        rows.append(_figure(rec, "accuracy", None, acc_new or None, "exact", bool(new)))
    return rows


def _performance(rec: Mapping[str, Any], new: Mapping[str, Any], tolerance: float) -> list[Figure]:
    valid, valid_new = rec.get("valid"), new.get("valid")
    rows = [_figure(rec, "valid", valid, valid_new, "exact", bool(new) and valid_new == valid)]
    before, after = throughputs(rec), throughputs(new)
    effective, spread = widened(tolerance, before, after)
    sps = statistics.median(before) if before else rec.get("samples_per_second")
    sps_new = statistics.median(after) if after else new.get("samples_per_second")
    rows.append(
        dataclasses.replace(
            _figure(
                rec,
                "samples_per_second",
                sps,
                sps_new,
                "tolerance",
                _within(sps, sps_new, effective),
            ),
            tolerance=effective,
            spread=spread,
            runs=(len(before), len(after)),
        )
    )
    lat, lat_new = rec.get("latency_ns") or {}, new.get("latency_ns") or {}
    for p in (p for p in LATENCIES if lat.get(p) is not None):
        rows.append(_figure(rec, f"latency_ns.{p}", lat.get(p), lat_new.get(p), "info", None))
    return rows


def compare(
    recorded: Sequence[Mapping[str, Any]],
    reproduced: Sequence[Mapping[str, Any]],
    tolerance: float,
) -> list[Figure]:
    """Accuracy must match exactly, validity too; samples/s (the median of the repeats, on each
    side) within `tolerance` percent either way, widened by the runs' own spread (see the module
    doc); latency percentiles are shown but not judged."""
    again = {_key(d): d for d in reproduced}
    out: list[Figure] = []
    for rec in sorted(recorded, key=_order):
        new = again.get(_key(rec), {})
        if rec.get("mode") == "accuracy":
            out += _accuracy(rec, new)
        else:
            out += _performance(rec, new, tolerance)
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
        widest = max((f.tolerance for f in judged if f.tolerance is not None), default=tolerance)
        within = f"{tolerance:g} %" + (
            f" (widened up to {widest:.3g} % by the spread of the runs)"
            if widest > tolerance
            else ""
        )
        reasons = (
            f"{len(judged)} figures: accuracy and validity identical, samples/s within {within}",
        )
    reproduced = Badge(
        name="reproduced", awarded=bool(judged) and not bad and functional.awarded, reasons=reasons
    )
    return available, functional, reproduced


def _why(f: Figure, tolerance: float) -> str:
    text = f"{f.scenario} {f.mode} {f.metric}: recorded {fmt(f.recorded)}, reproduced "
    text += fmt(f.reproduced)
    if f.rule == "tolerance" and f.delta_pct is not None:
        allowed = f.tolerance if f.tolerance is not None else tolerance
        widening = (
            f", widened from {tolerance:g} % by the runs' spread" if allowed > tolerance else ""
        )
        text += f" ({f.delta_pct:+.1f} %, tolerance {allowed:.3g} %{widening})"
    return text


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "VALID", False: "INVALID", None: "-"}[value]
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int | float):
        return f"{value:,.0f}"
    return str(value)
