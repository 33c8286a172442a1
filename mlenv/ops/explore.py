"""One point of a sweep, measured: resolve its manifest into its own lock, install the lock
section into an environment shared by every point with that section, and run each scenario x
mode as its own measurement, handing every result over as soon as it is measured.

The sweep itself (points, the results database, the executor) is `mlenv.explore`; this op
knows nothing of it. Each stage's user-causable failure is a `PointFailure` naming the stage
(resolve, install, run), so the sweep can record it and go on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import MlenvError
from mlenv.lock import LockTarget

from .benchrun import result_dir
from .install import Environment, ensure_env
from .project import Project
from .resolve import current_lock
from .run import InvalidRunError, RunRequest, run

__all__ = ["Measured", "PointFailure", "PointRequest", "Prepared", "install", "measure", "prepare"]

STAGES = ("resolve", "install", "run")
LOG_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json")


class PointFailure(MlenvError):
    """A stage of one point failed: `stage` and the `error` it raised (message kept)."""

    kind = "point-failed"

    def __init__(self, stage: str, error: MlenvError | OSError) -> None:
        inner = error if isinstance(error, MlenvError) else _os_error(error)
        super().__init__(
            f"{stage} failed: {inner.message}",
            where=inner.where,
            why=inner.why,
            hint=inner.hint,
            problems=inner.problems,
            details={"stage": stage, "error": inner.to_dict()},
        )
        self.stage = stage
        self.error = inner


def _os_error(e: OSError) -> MlenvError:
    return MlenvError(
        f"{e.strerror or e}", where=str(e.filename) if e.filename else None, hint="check the path"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PointRequest:
    """What to do with one point's manifest."""

    manifest_path: Path  # the point's derived mlenv.yaml (its lock goes beside it)
    envs_root: Path  # shared environments: <envs_root>/<section digest>/<target>/
    target: str | None = None  # the lock section (None: this machine's)
    measurements: tuple[tuple[str, str], ...] = ()  # (scenario, mode) to measure, in order
    options: Mapping[str, Any] = field(default_factory=dict)  # profile, repeat, … for RunRequest
    frozen: bool = False  # install the lock as it is, never resolve (a point on a Ray node)


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A resolved point: its project (pointed at the shared environment) and lock section."""

    project: Project
    section: LockTarget

    @property
    def lock_digest(self) -> str:
        return self.section.digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Measured:
    """One measurement of a point: its result.json document and its LoadGen logs."""

    scenario: str
    mode: str
    result: dict[str, Any]
    logs: Mapping[str, Path | bytes]  # file name -> path (or its content), those that exist
    invalid: bool  # LoadGen marked the performance run INVALID (recorded all the same)


def prepare(base: Project, request: PointRequest) -> Prepared:
    """The point's lock (resolved when missing or stale) and its section; stage `resolve`."""
    project = dataclasses.replace(base, manifest_path=request.manifest_path, lock_file=None)
    try:
        lock = current_lock(project, frozen=request.frozen)
        section = project.lock_section(lock, request.target)
    except (MlenvError, OSError) as e:
        raise PointFailure("resolve", e) from e
    shared = request.envs_root / section.digest().removeprefix("sha256:")
    return Prepared(project=dataclasses.replace(project, env_root=shared), section=section)


def install(prepared: Prepared) -> Environment:
    """The shared environment of the point's section, built if needed; stage `install`."""
    try:
        env, _ = ensure_env(prepared.project, prepared.section)
    except (MlenvError, OSError) as e:
        raise PointFailure("install", e) from e
    return env


def measure(
    prepared: Prepared,
    request: PointRequest,
    *,
    skip: Sequence[tuple[str, str]] = (),
    measured: Callable[[Measured], None],
) -> int:
    """Run each (scenario, mode) not in `skip`, one harness run each, calling `measured` as
    soon as one is done; how many ran. An INVALID run is a measurement, not a failure."""
    count = 0
    for scenario, mode in request.measurements:
        if (scenario, mode) in skip:
            continue
        run_request = RunRequest(
            scenarios=(scenario,),
            modes=(mode,),
            target=prepared.section.name,
            frozen=True,  # prepare() made the lock current
            allow_invalid=True,
            record=False,  # the sweep records each run itself, into the sweep's database
            **_supported(request.options),
        )
        try:
            results = run(prepared.project, run_request).results
        except InvalidRunError as e:  # not raised with allow_invalid; kept for safety
            results = e.results
        except (MlenvError, OSError) as e:
            raise PointFailure("run", e) from e
        for result in results:
            measured(_measured(prepared, scenario, mode, result))
            count += 1
    return count


def _supported(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options this mlenv's RunRequest has (profile, repeat, samples, … arrive with the
    measurement profiles); others are left out."""
    known = {f.name for f in dataclasses.fields(RunRequest)}
    return {k: v for k, v in options.items() if k in known and v is not None}


def unsupported(options: Mapping[str, Any]) -> list[str]:
    known = {f.name for f in dataclasses.fields(RunRequest)}
    return sorted(k for k, v in options.items() if v is not None and k not in known)


def _measured(prepared: Prepared, scenario: str, mode: str, result: dict[str, Any]) -> Measured:
    bench = prepared.project.manifest.benchmark
    logs: dict[str, Path] = {}
    if bench is not None:
        folder = result_dir(
            prepared.project.project_dir / "results",
            prepared.section,
            bench,
            str(result.get("scenario", scenario)),
            str(result.get("mode", mode)),
        )
        logs = {name: folder / name for name in LOG_FILES if (folder / name).is_file()}
    invalid = result.get("mode") == "performance" and result.get("valid") is False
    return Measured(
        scenario=str(result.get("scenario", scenario)),
        mode=str(result.get("mode", mode)),
        result=result,
        logs=logs,
        invalid=invalid,
    )
