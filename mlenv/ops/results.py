"""results: the results database as workflows (CONTRACTS §13) — list, show, pareto, export,
import, plot — and `record_run_results`, which `mlenv run` calls to record what it measured.

The database is `--results URL`, else `MLENV_RESULTS`, else `sqlite:///<project>/.mlenv/results.db`.
Reading bundles (`mlenv.envs.bundle`) happens here, never in `mlenv.resultsdb`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from mlenv.errors import UsageError
from mlenv.resultsdb import (
    PointRow,
    ResultsDB,
    ResultsDBError,
    RunRow,
    default_url,
    importer,
    safe_url,
)
from mlenv.resultsdb import export as exporter
from mlenv.resultsdb.pareto import DIRECTIONS, Group
from mlenv.resultsdb.plot import scatter_svg
from mlenv.resultsdb.store import canonical

from .project import Project

FORMATS = (*exporter.FORMATS, "fair")


def results_url(project: Project, url: str | None = None) -> str:
    """--results, else MLENV_RESULTS, else the SQLite file beside the manifest."""
    return url or project.environ.get("MLENV_RESULTS") or default_url(project.project_dir)


@contextmanager
def opened(project: Project, url: str | None, *, create: bool = True) -> Iterator[ResultsDB]:
    """The database; for reading (`create=False`) a SQLite file that does not exist yet is an
    error rather than a new empty database."""
    chosen = results_url(project, url)
    if not create:
        _must_exist(chosen)
    db = ResultsDB.open(chosen)
    try:
        yield db
    finally:
        db.close()


def _must_exist(url: str) -> None:
    try:
        parsed = make_url(url)
    except Exception:  # ResultsDB.open explains a bad URL
        return
    database = parsed.database or ""
    local = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if local and not database.startswith("file:") and not Path(database).exists():
        raise ResultsDBError(
            f"no results recorded yet: {database} does not exist",
            where=safe_url(url),
            hint="`mlenv run` or `mlenv explore` record runs there; or pass --results URL "
            "(or set MLENV_RESULTS) to read another database",
        )


def pairs(items: Sequence[str], what: str) -> dict[str, str]:
    """KEY=VALUE options (`--where`, `--objective`) as a mapping."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {item!r} is not KEY=VALUE", where=what)
        out[key.strip()] = value.strip()
    return out


# -- recording what `mlenv run` measured --------------------------------------------------------


def run_folder(root: Path, doc: Mapping[str, Any]) -> Path | None:
    """Where `mlenv run` wrote this document's files (results/<system>/<benchmark>/<scenario>/…)."""
    target = doc.get("target")
    name = target.get("name") if isinstance(target, Mapping) else target
    parts = [str(name or ""), str(doc.get("benchmark") or ""), str(doc.get("scenario") or "")]
    if not all(parts) or any("/" in p or p.startswith(".") for p in parts):
        return None
    base = root.joinpath(*parts)
    audit = doc.get("compliance")
    if isinstance(audit, Mapping) and isinstance(audit.get("test"), str):
        return base / audit["test"]
    return base / "performance" / "run_1" if doc.get("mode") == "performance" else base / "accuracy"


def _logs_of(root: Path, doc: Mapping[str, Any]) -> dict[str, bytes]:
    """The LoadGen files beside the document's result.json, when that file is this document."""
    folder = run_folder(root, doc)
    if folder is None or not (folder / "result.json").is_file():
        return {}
    found = importer.read_result(folder / "result.json")
    return found.logs if canonical(found.document) == canonical(doc) else {}


def record_run_results(
    project: Project, results: list[dict[str, Any]], *, url: str | None = None
) -> None:
    """Record the result.json documents of one `mlenv run` (one point per manifest digest,
    no sweep), with their LoadGen files, in one transaction."""
    if not results:
        return
    first = results[0]
    target = first.get("target")
    with opened(project, url) as db:
        point_id = project.manifest.digest()
        db.record_point(
            point_id,
            sweep=None,
            parameters={},
            manifest=project.manifest_path.read_text(encoding="utf-8"),
            lock=first.get("lock"),
            target=target.get("name") if isinstance(target, Mapping) else None,
        )
        root = project.project_dir / "results"
        db.record_runs(point_id, [(doc, _logs_of(root, doc)) for doc in results])
        project.reporter.info(f"recorded {len(results)} run(s) in {safe_url(db.url)}")


# -- queries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunList:
    url: str
    rows: tuple[RunRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"results": safe_url(self.url), "runs": [r.to_dict() for r in self.rows]}


def list_runs(
    project: Project,
    *,
    url: str | None = None,
    sweep: str | None = None,
    where: Mapping[str, str] | None = None,
) -> RunList:
    with opened(project, url, create=False) as db:
        return RunList(url=db.url, rows=tuple(db.runs(sweep=sweep, where=where or {})))


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    url: str
    run: RunRow | None = None
    point: PointRow | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.run is not None:
            run = self.run
            extra = {"result": dict(run.document), "logs": dict(run.logs), "stage": run.stage}
            return {"kind": "run", "run": {**run.to_dict(), **extra}}
        assert self.point is not None
        return {"kind": "point", "point": self.point.to_dict()}


def show(project: Project, ident: str, *, url: str | None = None) -> Shown:
    with opened(project, url, create=False) as db:
        found = db.get(ident)
        if isinstance(found, RunRow):
            return Shown(url=db.url, run=found)
        return Shown(url=db.url, point=found)


@dataclass(frozen=True, slots=True, kw_only=True)
class Front:
    url: str
    groups: tuple[Group, ...]

    @property
    def rows(self) -> list[RunRow]:
        return [r for g in self.groups for r in g.front]

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": safe_url(self.url),
            "groups": [
                {
                    "benchmark": g.benchmark,
                    "scenario": g.scenario,
                    "objectives": dict(g.objectives),
                    "candidates": len(g.candidates),
                    "front": [{**r.to_dict(), "objectives": g.values_of(r)} for r in g.front],
                }
                for g in self.groups
            ],
        }


def objectives_of(items: Sequence[str]) -> dict[str, str] | None:
    found = pairs(items, "--objective")
    for key, direction in found.items():
        if direction not in DIRECTIONS:
            raise UsageError(
                f"--objective {key}={direction}: the direction is max or min",
                where="--objective",
                hint="e.g. --objective samples_per_second=max --objective latency_ns.p90=min",
            )
    return found or None


def pareto(
    project: Project,
    *,
    url: str | None = None,
    sweep: str | None = None,
    scenario: str | None = None,
    benchmark: str | None = None,
    objectives: Mapping[str, str] | None = None,
    where: Mapping[str, str] | None = None,
) -> Front:
    with opened(project, url, create=False) as db:
        found = db.pareto_groups(
            sweep=sweep,
            scenario=scenario,
            benchmark=benchmark,
            objectives=objectives,
            where=where or {},
        )
        return Front(url=db.url, groups=tuple(found))


# -- files out ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    format: str
    text: str
    count: int  # runs (export) or candidates (plot)
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "count": self.count}
        if self.path is not None:
            return {**out, "path": str(self.path)}
        return {**out, "content": self.text}


def _write(project: Project, text: str, output: Path | None, what: str) -> Path | None:
    if output is None:
        return None
    out = output.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    project.reporter.info(f"wrote {out} ({what})")
    return out


def export(
    project: Project,
    fmt: str,
    *,
    url: str | None = None,
    output: Path | None = None,
    sweep: str | None = None,
    where: Mapping[str, str] | None = None,
) -> Written:
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
    if fmt == "fair":
        return _export_fair(project, url=url, output=output, sweep=sweep, where=where)
    rows = list_runs(project, url=url, sweep=sweep, where=where).rows
    text = exporter.export(rows, fmt)
    path = _write(project, text, output, f"{fmt}, {len(rows)} runs")
    return Written(format=fmt, text=text, count=len(rows), path=path)


def _project_locks(project: Project) -> dict[str, bytes]:
    """The project's mlenv.lock by the digest of each of its sections (a run measured with one
    of them gets the file in its crate; other runs' locks are not stored, so left out)."""
    from mlenv.errors import MlenvError

    try:
        lock = project.lock()
        data = project.lock_path.read_bytes()
    except (MlenvError, OSError):
        return {}
    return {section.digest(): data for section in lock.targets.values()}


def _export_fair(
    project: Project,
    *,
    url: str | None,
    output: Path | None,
    sweep: str | None,
    where: Mapping[str, str] | None,
) -> Written:
    import mlenv
    from mlenv.resultsdb import fair

    if output is None:
        raise UsageError("--format fair writes a folder", where="--format fair", hint="add -o DIR")
    with opened(project, url, create=False) as db:
        rows = db.runs(sweep=sweep, where=where or {})
        manifests = {p.point_id: p.manifest for p in db.points()}
        crate = fair.write_crate(
            output.absolute(),
            rows,
            log=db.log,
            manifests=manifests,
            locks=_project_locks(project),
            version=mlenv.__version__,
        )
    project.reporter.info(f"wrote {crate.path} (RO-Crate and Croissant, {crate.runs} runs)")
    text = "\n".join(crate.files) + "\n"
    return Written(format="fair", text=text, count=crate.runs, path=crate.path)


def plot(
    project: Project,
    *,
    url: str | None = None,
    output: Path | None = None,
    sweep: str | None = None,
    scenario: str | None = None,
    objectives: Mapping[str, str] | None = None,
) -> Written:
    """The Pareto scatter (SVG); axes: the first two objectives."""
    front = pareto(project, url=url, sweep=sweep, scenario=scenario, objectives=objectives)
    title = f"Pareto front · {sweep}" if sweep else "Pareto front"
    text = scatter_svg(front.groups, title=title)
    count = sum(len(g.candidates) for g in front.groups)
    return Written(format="svg", text=text, count=count, path=_write(project, text, output, "svg"))


def json_text(data: Any) -> str:
    """A record as people read it (indented, sorted keys)."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)
