"""The optuna search (`search: {kind: optuna, points: N, seed: S}`): Optuna's multi-objective
sampler (NSGA-II, seeded) picks N distinct points of the sweep's space one at a time, each
told the objectives measured for it before the next is asked for.

The study lives in memory; the results database is its memory across calls. A point already
recorded is told its recorded values without being measured again, so a sweep interrupted
halfway asks for the same points again (same seed, same values told) and measures only what
it lacks. A failed point is told FAIL. A proposal that is excluded, or that repeats a point
already chosen, is told PRUNED and does not count; after too many of those in a row the first
point of the space (in product order) not yet chosen is enqueued, so the search always ends.

Optuna is an optional extra (`pip install optuna`, or `mlenv[optuna]`); it is imported here only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlenv.errors import UsageError

from .points import Parameters, Point
from .sweep import Sweep

DEFAULT_OBJECTIVES = (("samples_per_second", "max"), ("latency_ns.p90", "min"))
MAX_REPEATS = 20  # proposals in a row that give no new point before one is enqueued

Values = Sequence[float] | None  # the objectives of a point, None: failed or unreadable


def objectives(sweep: Sweep) -> tuple[tuple[str, str], ...]:
    """The sweep's objectives (key, max|min), else samples_per_second max, p90 latency min."""
    return tuple(sweep.objectives) or DEFAULT_OBJECTIVES


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as e:
        raise UsageError(
            "the optuna search needs Optuna, which is not installed",
            why=str(e),
            hint="`pip install optuna` (or `pip install mlenv[optuna]`), or use "
            "search: {kind: random, points: N, seed: S}",
        ) from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def values_of(rows: Sequence[Any], keys: Sequence[str]) -> list[float] | None:
    """Each objective's value read from a point's recorded runs (performance runs first,
    then the others: an accuracy objective comes from an accuracy run); None when one is
    missing or the point has no ok run."""
    ok = [r for r in rows if r.status == "ok"]
    ok.sort(key=lambda r: 0 if r.mode == "performance" else 1)
    out: list[float] = []
    for key in keys:
        found = next((v for v in (_number(r.value(key)) for r in ok) if v is not None), None)
        if found is None:
            return None
        out.append(found)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value else None  # NaN is no value


class OptunaSearch:
    """Picks the points of an optuna search, one at a time."""

    def __init__(self, sweep: Sweep, space: Sequence[Point]) -> None:
        self.optuna = _optuna()
        self.sweep = sweep
        self.space = {_key(p.parameters): p for p in space}
        self.order = list(space)
        self.points = sweep.search.points or len(space)
        self.keys = [k for k, _ in objectives(sweep)]
        directions = ["maximize" if d == "max" else "minimize" for _, d in objectives(sweep)]
        sampler = self.optuna.samplers.NSGAIISampler(seed=sweep.search.seed)
        self.study = self.optuna.create_study(directions=directions, sampler=sampler)
        dist = self.optuna.distributions.CategoricalDistribution
        # indices, not the values: a value may be any scalar of the sweep file
        self.distributions = {a.key: dist(tuple(range(len(a.values)))) for a in sweep.axes}

    @property
    def total(self) -> int:
        return min(self.points, len(self.space))

    def run(self, measure: Callable[[Point], Values]) -> list[Point]:
        """Ask for `total` distinct points; `measure(point)` measures it (or finds it
        recorded) and gives its objective values, or None when it failed."""
        chosen: list[Point] = []
        seen: set[Parameters] = set()
        misses = 0
        while len(chosen) < self.total:
            trial = self.study.ask(self.distributions)
            point = self.space.get(self._parameters(trial.params))
            if point is None or _key(point.parameters) in seen:
                self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
                misses += 1
                if misses >= MAX_REPEATS:
                    self._enqueue_next(seen)
                    misses = 0
                continue
            misses = 0
            seen.add(_key(point.parameters))
            chosen.append(point)
            values = measure(point)
            if values is None:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(trial, list(values))
        return chosen

    def _parameters(self, params: Mapping[str, Any]) -> Parameters:
        return _key(tuple((a.key, a.values[int(params[a.key])]) for a in self.sweep.axes))

    def _enqueue_next(self, seen: set[Parameters]) -> None:
        for point in self.order:
            if _key(point.parameters) not in seen:
                index = {
                    key: _index(self.sweep.axis(key).values, value)
                    for key, value in point.parameters
                }
                self.study.enqueue_trial(index)
                return


def _index(values: Sequence[Any], value: Any) -> int:
    from .sweep import _same

    return next(i for i, v in enumerate(values) if _same(v, value))


def _key(parameters: Parameters) -> Parameters:
    """Parameters in a form that compares as the sweep does (1 and True, 1 and 1.0 differ)."""
    return tuple((k, (type(v).__name__, v)) for k, v in parameters)
