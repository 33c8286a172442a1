"""The Pareto front: the non-dominated runs of each (benchmark, scenario), over objectives that
are any recorded field by dotted path, each maximized or minimized. A query: nothing is ever
removed, dominated runs stay recorded.

The candidates are the performance runs that succeeded. A field a performance run lacks (the
accuracy, measured in accuracy mode) is taken from the same point's run of the same scenario that
has it, so a configuration's throughput, latency and accuracy are weighed together. A candidate
still missing a value counts as the worst on that objective; an objective no candidate of a group
has (energy where no meter was readable) is left out for that group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ResultsDBError
from .rows import RunRow

DIRECTIONS = ("max", "min")
# the dataset's metric, preferred in this order when a run reports several
METRICS = ("top1", "map", "f1", "mAP", "acc", "accuracy")
_CHUNK = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """One (benchmark, scenario): the objectives used, every candidate with its values (in the
    objectives' order, None where absent) and whether it is on the front."""

    benchmark: str | None
    scenario: str | None
    objectives: Mapping[str, str]
    candidates: tuple[RunRow, ...]
    values: tuple[tuple[float | None, ...], ...]
    on_front: tuple[bool, ...]

    @property
    def front(self) -> list[RunRow]:
        return [r for r, keep in zip(self.candidates, self.on_front, strict=True) if keep]

    def values_of(self, row: RunRow) -> dict[str, float | None]:
        i = self.candidates.index(row)
        return dict(zip(self.objectives, self.values[i], strict=True))


def check_objectives(objectives: Mapping[str, str] | None) -> dict[str, str] | None:
    if objectives is None:
        return None
    if not objectives:
        raise ResultsDBError(
            "no objectives given", hint="name at least one, e.g. samples_per_second=max"
        )
    out = {}
    for key, direction in objectives.items():
        if direction not in DIRECTIONS or not key:
            raise ResultsDBError(
                f"objective {key}={direction} is not KEY=max or KEY=min",
                where="objectives",
                hint="e.g. samples_per_second=max, latency_ns.p90=min, accuracy.top1=max",
            )
        out[key] = direction
    return out


def non_dominated(values: np.ndarray) -> np.ndarray:
    """Mask of the rows of `values` (n x k, larger is better, -inf where absent) that no other
    row dominates (at least as good everywhere, better somewhere)."""
    n = values.shape[0]
    dominated = np.zeros(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        block = values[start : start + _CHUNK]  # the possible dominators
        ge = (block[:, None, :] >= values[None, :, :]).all(axis=2)
        gt = (block[:, None, :] > values[None, :, :]).any(axis=2)
        dominated |= (ge & gt).any(axis=0)
    return ~dominated


def groups(rows: Sequence[RunRow], objectives: Mapping[str, str] | None = None) -> list[Group]:
    """The front of every (benchmark, scenario) among `rows` (runs and their companions)."""
    chosen = check_objectives(objectives)
    companions: dict[tuple[str, Any], list[RunRow]] = {}
    for r in rows:
        if r.status == "ok":
            companions.setdefault((r.point_id, r.scenario), []).append(r)
    by_group: dict[tuple[Any, Any], list[RunRow]] = {}
    for r in rows:
        if r.status == "ok" and r.mode == "performance":
            by_group.setdefault((r.benchmark, r.scenario), []).append(r)
    out = []
    for (benchmark, scenario), candidates in sorted(by_group.items(), key=_group_order):
        out.append(_group(benchmark, scenario, candidates, companions, chosen))
    return out


def _group_order(item: tuple[tuple[Any, Any], list[RunRow]]) -> tuple[str, str]:
    (benchmark, scenario), _ = item
    return (str(benchmark or ""), str(scenario or ""))


def _group(
    benchmark: Any,
    scenario: Any,
    candidates: list[RunRow],
    companions: Mapping[tuple[str, Any], list[RunRow]],
    chosen: Mapping[str, str] | None,
) -> Group:
    def value(row: RunRow, key: str) -> float | None:
        for source in (row, *reversed(companions.get((row.point_id, row.scenario), []))):
            found = _number(source.value(key))
            if found is not None:
                return found
        return None

    objectives = dict(chosen) if chosen is not None else default_objectives(candidates, companions)
    table = [[value(r, key) for key in objectives] for r in candidates]
    present = [j for j in range(len(objectives)) if any(t[j] is not None for t in table)]
    matrix = np.full((len(candidates), len(present)), -math.inf)
    for i, row_values in enumerate(table):
        for col, j in enumerate(present):
            v = row_values[j]
            if v is not None:
                matrix[i, col] = v if list(objectives.values())[j] == "max" else -v
    mask = non_dominated(matrix) if present else np.ones(len(candidates), dtype=bool)
    return Group(
        benchmark=benchmark,
        scenario=scenario,
        objectives=objectives,
        candidates=tuple(candidates),
        values=tuple(tuple(t) for t in table),
        on_front=tuple(bool(m) for m in mask),
    )


def default_objectives(
    candidates: Iterable[RunRow], companions: Mapping[tuple[str, Any], list[RunRow]]
) -> dict[str, str]:
    """samples_per_second max, latency_ns.p90 min, and the dataset's metric max."""
    out = {"samples_per_second": "max", "latency_ns.p90": "min"}
    metrics: list[str] = []
    for r in candidates:
        for source in (r, *companions.get((r.point_id, r.scenario), [])):
            accuracy = source.document.get("accuracy")
            if isinstance(accuracy, Mapping):
                metrics += [k for k in accuracy if _number(accuracy[k]) is not None]
    if metrics:
        preferred = [m for m in METRICS if m in metrics]
        out[f"accuracy.{preferred[0] if preferred else metrics[0]}"] = "max"
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None
