"""The Pareto front against a brute-force dominance check over random data (hypothesis), per
benchmark and scenario, with accuracy taken from a point's accuracy run, and through the store
on SQLite and PostgreSQL (dominated runs stay recorded)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.resultsdb import ResultsDB, ResultsDBError, RunRow
from mlenv.resultsdb.pareto import groups, non_dominated

OBJECTIVES = {"samples_per_second": "max", "latency_ns.p90": "min", "accuracy.top1": "max"}


def _row(i: int, sps: float | None, p90: float | None, top1: float | None, **doc: Any) -> RunRow:
    document = {
        "benchmark": "m",
        "scenario": "Offline",
        "mode": "performance",
        "samples_per_second": sps,
        "latency_ns": {"p90": p90},
        "accuracy": {"top1": top1} if top1 is not None else None,
        **doc,
    }
    return RunRow(
        run_id=f"r{i:04d}",
        point_id=f"p{i}",
        sweep=None,
        status="ok",
        origin="mlenv",
        recorded_at=float(i),
        document=document,
    )


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and a != b


def _brute_force(rows: list[RunRow]) -> set[str]:
    def oriented(r: RunRow) -> tuple[float, ...]:
        out = []
        for key, direction in OBJECTIVES.items():
            v = r.value(key)
            v = -math.inf if v is None else (v if direction == "max" else -v)
            out.append(v)
        return tuple(out)

    vectors = {r.run_id: oriented(r) for r in rows}
    return {a for a in vectors if not any(_dominates(vectors[b], vectors[a]) for b in vectors)}


values = st.one_of(st.none(), st.integers(0, 6).map(float))  # few values: many ties


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(values, values, values), min_size=1, max_size=40))
def test_the_front_is_the_brute_force_non_dominated_set(data: list[tuple[Any, ...]]) -> None:
    rows = [_row(i, *t) for i, t in enumerate(data)]
    (group,) = groups(rows, OBJECTIVES)
    present = [k for j, k in enumerate(OBJECTIVES) if any(t[j] is not None for t in data)]
    assert list(group.objectives) == list(OBJECTIVES)
    if len(present) == len(OBJECTIVES):
        assert {r.run_id for r in group.front} == _brute_force(rows)
    assert group.front  # a non-empty set always has a non-dominated member
    assert len(group.candidates) == len(rows)  # dominated runs are kept as candidates


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 600), st.integers(1, 4), st.integers(0, 2**31))
def test_non_dominated_matches_brute_force_on_larger_tables(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 5, size=(n, k)).astype(float)
    mask = non_dominated(table)
    sample = rng.choice(n, size=min(n, 30), replace=False)
    for i in sample:  # brute force on a sample of rows (the full check is quadratic)
        dominated = any(
            (table[j] >= table[i]).all() and (table[j] > table[i]).any() for j in range(n)
        )
        assert mask[i] == (not dominated)


def test_accuracy_comes_from_the_points_accuracy_run_and_groups_are_separate() -> None:
    fast = _row(1, 1000.0, 5.0, None)
    accurate = _row(2, 500.0, 5.0, None)
    dominated = _row(3, 400.0, 6.0, None)
    other_scenario = _row(4, 1.0, 1.0, None, scenario="SingleStream")

    def accuracy(of: RunRow, top1: float) -> RunRow:
        return RunRow(
            run_id=of.run_id + "a",
            point_id=of.point_id,
            sweep=None,
            status="ok",
            origin="mlenv",
            recorded_at=of.recorded_at,
            document={**of.document, "mode": "accuracy", "accuracy": {"top1": top1}},
        )

    rows = [fast, accurate, dominated, other_scenario]
    rows += [accuracy(fast, 0.90), accuracy(accurate, 0.99), accuracy(dominated, 0.95)]
    offline, single = groups(rows)  # default objectives: the dataset's metric found
    assert offline.objectives == OBJECTIVES
    assert [r.run_id for r in offline.front] == ["r0001", "r0002"]
    assert offline.values_of(accurate)["accuracy.top1"] == 0.99
    assert (single.scenario, [r.run_id for r in single.front]) == ("SingleStream", ["r0004"])


def test_objectives_are_checked() -> None:
    with pytest.raises(ResultsDBError, match="KEY=max or KEY=min"):
        groups([_row(1, 1.0, 1.0, 1.0)], {"samples_per_second": "most"})
    with pytest.raises(ResultsDBError, match="no objectives"):
        groups([_row(1, 1.0, 1.0, 1.0)], {})


def test_an_objective_no_run_has_is_left_out() -> None:
    rows = [_row(1, 10.0, 5.0, None), _row(2, 5.0, 5.0, None)]
    (group,) = groups(rows, {"samples_per_second": "max", "energy.joules": "min"})
    assert [r.run_id for r in group.front] == ["r0001"]


def test_pareto_through_the_store(url: str) -> None:
    with ResultsDB.open(url) as db:
        runs = {}
        for i, (sps, p90, top1) in enumerate(
            [(10, 5, 0.9), (20, 9, 0.9), (5, 9, 0.8), (20, 9, 0.95)]
        ):
            pid = f"sha256:{i}"
            db.record_point(
                pid, sweep="s", parameters={"i": i}, manifest="", lock=None, target=None
            )
            perf = {"benchmark": "m", "scenario": "Offline", "mode": "performance"}
            runs[i] = db.record_run(
                pid, {**perf, "samples_per_second": sps, "latency_ns": {"p90": p90}}
            )
            db.record_run(pid, {**perf, "mode": "accuracy", "accuracy": {"top1": top1}})
        assert {r.run_id for r in db.pareto(sweep="s")} == {runs[0], runs[3]}
        assert len(db.runs(sweep="s")) == 8  # nothing removed
        two = db.pareto(objectives={"samples_per_second": "max", "latency_ns.p90": "min"})
        assert {r.run_id for r in two} == {runs[0], runs[1], runs[3]}
        assert db.pareto(scenario="Server") == []
        assert {r.run_id for r in db.pareto(where={"parameters.i": "2"})} == {runs[2]}
