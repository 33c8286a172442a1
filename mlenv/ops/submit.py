"""submit: the MLPerf inference submission tree from recorded runs (CONTRACTS §14), and
`check`, mlenv's own checks of a tree.

The runs come from the results database (`--results`, else `MLENV_RESULTS`, else the project's);
what only the project knows is gathered here and handed to `mlenv.submission`: each dataset's
full size (to refuse subsets), the model's input type and weights file (measurements.json), and
`src/` — the point's derived manifest from the database, the project's `mlenv.lock` when its
section is the one the runs record, and the project's own recipe files of that section's
packages (built-in catalog recipes ship with mlenv and are not copied).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import MlenvError, UsageError
from mlenv.lock import Lock, LockTarget, load_lock
from mlenv.resultsdb import ResultsDB, RunRow, safe_url
from mlenv.submission import Built, Plan, SubmissionError, check_tree, write
from mlenv.submission import select as S
from mlenv.submission.rules import DIVISIONS
from mlenv.submission.tree import closed_model, measurement_defaults
from mlenv.yamlio import parse_yaml, read_text

from .project import Project
from .results import opened


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitRequest:
    submitter: str
    out: Path
    division: str = "open"
    system_name: str | None = None
    system_file: Path | None = None
    sweep: str | None = None
    runs: tuple[str, ...] = ()
    pareto: bool = False
    test: bool = False
    results: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    built: Built
    url: str
    runs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        b = self.built
        return {
            "root": str(b.root),
            "tarball": str(b.tarball),
            "test": b.test,
            "results": safe_url(self.url),
            "runs": list(self.runs),
            "scenarios": list(b.results),
            "systems": [
                {"name": s.name, "placeholders": list(s.missing) if b.test else [],
                 "detected": list(s.detected)}
                for s in b.systems
            ],
        }  # fmt: skip


def submit(project: Project, request: SubmitRequest) -> Submitted:
    if request.division not in DIVISIONS:
        raise UsageError(f"--division {request.division!r}: one of {', '.join(DIVISIONS)}")
    if sum(bool(x) for x in (request.sweep, request.runs, request.pareto)) > 1:
        raise UsageError("give one of --sweep, --run and --pareto", where="the command line")
    supplied = load_system_file(request.system_file) if request.system_file else {}
    with opened(project, request.results, create=False) as db:
        entries = _entries(db, request)
        index_info = _index_info(project, entries)
        problems = S.refusals(entries, index_info["samples"], test=request.test)
        if request.division == "closed":
            mapping = supplied.get("model_mapping", {})
            closed = {e.benchmark: closed_model(mapping, e.benchmark) for e in entries}
            problems += S.compliance_refusals(entries, closed, test=request.test)
        S.refuse(problems, test=request.test)
        lock = _project_lock(project)
        plan = Plan(
            division=request.division,
            submitter=request.submitter,
            system_name=request.system_name,
            entries=tuple(entries),
            system=supplied.get("system", {}),
            measurements=_measurements(entries, index_info, supplied, lock),
            model_mapping=supplied.get("model_mapping", {}),
            sources=_sources(project, db, entries, lock),
            test=request.test,
        )
        built = write(plan, request.out, db.log)
        url = db.url
    if request.test:
        project.reporter.warn(
            "a test submission, not for MLPerf: every README says so"
            + (
                f"; placeholders in {', '.join(s.name for s in built.systems)}.json"
                if any(s.missing for s in built.systems)
                else ""
            )
        )
    project.reporter.info(f"wrote {built.root} and {built.tarball}")
    runs = tuple(r for e in entries for r in (e.performance.run_id, e.accuracy.run_id))
    return Submitted(built=built, url=url, runs=runs)


def _entries(db: ResultsDB, request: SubmitRequest) -> list[S.Entry]:
    rows = db.runs(sweep=request.sweep)
    if request.runs:
        chosen: list[RunRow] = []
        for ident in request.runs:
            found = db.get(ident)
            if not isinstance(found, RunRow):
                raise SubmissionError(
                    f"{ident} is a point, not a run", hint="`mlenv results show` lists its runs"
                )
            chosen.append(found)
        rows = db.runs()
    elif request.pareto:
        chosen = db.pareto(sweep=request.sweep, where={"valid": "true"})
    else:
        chosen = S.latest_performance(rows)
    entries, problems = S.pair(rows, chosen)
    S.refuse(problems, test=request.test)
    if not entries:
        raise SubmissionError(
            "no recorded performance runs to submit"
            + (f" in sweep {request.sweep}" if request.sweep else ""),
            where=safe_url(db.url),
            hint="measure with `mlenv run --profile submission` (both modes) or `mlenv explore`",
        )
    return entries


def _index_info(project: Project, entries: Sequence[S.Entry]) -> dict[str, Any]:
    """Dataset sizes and model inputs from the project's recipe index (what is found)."""
    samples: dict[str, int] = {}
    dtypes: dict[str, str] = {}
    try:
        index = project.index
    except MlenvError:
        return {"samples": samples, "dtypes": dtypes}
    for e in entries:
        data = index.get(str(e.performance.dataset))
        if data is not None and isinstance(data.recipe.samples, int):
            samples[str(e.performance.dataset)] = data.recipe.samples
        model = index.get(e.benchmark)
        if model is not None and model.recipe.inputs:
            dtypes[e.benchmark] = model.recipe.inputs[0].dtype
    return {"samples": samples, "dtypes": dtypes}


def _measurements(
    entries: Sequence[S.Entry],
    info: Mapping[str, Any],
    supplied: Mapping[str, Any],
    lock: Lock | None,
) -> dict[str, dict[str, Any]]:
    benchmarks = sorted({e.benchmark for e in entries})
    models: dict[str, dict[str, Any]] = {}
    for e in entries:
        weights = _weights(lock, e.performance)
        models[e.benchmark] = {"input_dtype": info["dtypes"].get(e.benchmark), "weights": weights}
    out = measurement_defaults(models, benchmarks)
    given = supplied.get("measurements", {})
    for b in benchmarks:
        extra = given.get(b) if isinstance(given.get(b), Mapping) else given
        out[b].update({k: v for k, v in extra.items() if not isinstance(v, Mapping)})
    return out


def _weights(lock: Lock | None, run: RunRow) -> str | None:
    """The file name of the model package's first artifact in the run's lock section (its URL's
    last part, else the file it names inside a wheel, else the artifact's name)."""
    digest = run.document.get("lock") or run.point_lock
    section = _section(lock, digest if isinstance(digest, str) else None)
    if section is None:
        return None
    for a in section.artifacts:
        if a.package == run.benchmark:
            for named in (a.url, a.member, a.path):
                if named:
                    return named.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            return a.name
    return None


# -- src/ ---------------------------------------------------------------------------------------


def _sources(
    project: Project, db: ResultsDB, entries: Sequence[S.Entry], lock: Lock | None
) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for point_id in sorted({e.performance.point_id for e in entries}):
        found = db.get(point_id)
        files: dict[str, bytes] = {}
        manifest = getattr(found, "manifest", "")
        if manifest:
            files["mlenv.yaml"] = manifest.encode()
        section = _section(lock, getattr(found, "lock", None))
        if lock is not None and section is not None:
            files["mlenv.lock"] = project.lock_path.read_bytes()
            files.update(_recipes(project, section))
        out[point_id] = files
    return out


def _project_lock(project: Project) -> Lock | None:
    try:
        return load_lock(project.lock_path) if project.lock_path.is_file() else None
    except MlenvError:
        return None


def _section(lock: Lock | None, digest: str | None) -> LockTarget | None:
    if lock is None or not digest:
        return None
    return next((t for t in lock.targets.values() if t.digest() == digest), None)


def _recipes(project: Project, section: LockTarget) -> dict[str, bytes]:
    files = {}
    try:
        index = project.index
    except MlenvError:
        return {}
    for name in sorted(section.packages):
        located = index.get(name)
        if located is None or located.root.label.startswith("builtin:"):
            continue
        path = located.root.path / located.relpath
        if path.is_file():
            files[f"recipes/{located.relpath}"] = path.read_bytes()
    return files


# -- the system file ---------------------------------------------------------------------------


def load_system_file(path: Path) -> dict[str, Any]:
    """`--system FILE` (YAML or JSON): systems JSON fields at the top (or under `system:`),
    optional `measurements:` (fields, or fields per benchmark) and `model_mapping:`."""
    text = read_text(path)
    data = json.loads(text) if path.suffix == ".json" else parse_yaml(text, str(path))
    if not isinstance(data, dict):
        raise SubmissionError(
            f"{path} holds no mapping", where=str(path), hint="write `field: value` lines"
        )
    data = dict(data)
    out: dict[str, Any] = {
        "measurements": data.pop("measurements", None) or {},
        "model_mapping": data.pop("model_mapping", None) or {},
    }
    nested = data.pop("system", None)
    fields = {**(nested if isinstance(nested, dict) else {}), **data}
    for key in ("measurements", "model_mapping"):
        if not isinstance(out[key], dict):
            raise SubmissionError(f"{key} must be a mapping", where=f"{path}: {key}")
    out["system"] = {
        k: v if isinstance(v, str) else json.dumps(v) if isinstance(v, dict | list) else str(v)
        for k, v in fields.items()
    }
    return out


# -- check ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    path: Path
    problems: tuple[Any, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
        }

    def error(self) -> SubmissionError:
        return SubmissionError(
            f"{len(self.problems)} problem(s) in the submission tree {self.path}",
            where=str(self.path),
            problems=self.problems,
            hint="fix them and check again; `mlenv submit` writes a tree that passes",
        )


def check(path: Path) -> Checked:
    if not path.is_dir():
        raise SubmissionError(
            f"{path} is not a folder", hint="give the -o folder of `mlenv submit`"
        )
    return Checked(path=path, problems=tuple(check_tree(path)))
