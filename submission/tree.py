"""Writing the tree: `<division>/<submitter>/{systems,src,results}/…`, `model_mapping.json`
(open division) and `<submitter>.tar.gz`. Built in a temporary folder beside the output and
renamed into place, so a failure leaves nothing half-written."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import Problem
from mlenv.names import check_component

from . import accuracy as A
from . import compliance as C
from . import readme
from .errors import SubmissionError
from .rules import CATALOG_MODELS, CLOSED_MODELS, MEASUREMENT_FIELDS, compliance_tests
from .select import Entry
from .systems import PLACEHOLDER, SystemDescription, describe


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What to write: the entries and everything the user or the project supplies."""

    division: str
    submitter: str
    system_name: str | None
    entries: tuple[Entry, ...]
    system: Mapping[str, Any] = field(default_factory=dict)  # systems JSON fields supplied
    measurements: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # by benchmark
    model_mapping: Mapping[str, str] = field(default_factory=dict)  # benchmark -> closed model
    sources: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)  # point -> files
    test: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    root: Path  # DIR/<division>/<submitter>
    tarball: Path
    systems: tuple[SystemDescription, ...]
    results: tuple[str, ...]  # results/<system>/<benchmark>/<scenario>, relative to root
    test: bool


def system_names(plan: Plan) -> dict[str, str]:
    """point id -> its system's name: one system, unless two points measured the same
    benchmark and scenario (then each point is its own system, named with its id)."""
    first = plan.entries[0].performance
    base = plan.system_name or str(first.target or "system")
    seen: dict[tuple[str, str], set[str]] = {}
    for e in plan.entries:
        seen.setdefault((e.benchmark, e.scenario), set()).add(e.performance.point_id)
    points = {e.performance.point_id for e in plan.entries}
    if all(len(v) == 1 for v in seen.values()):
        return dict.fromkeys(points, base)
    return {p: f"{base}_{p.removeprefix('sha256:')[:8]}" for p in points}


def benchmark_folder(plan: Plan, benchmark: str) -> str:
    """The benchmark's folder: its own name in the open division, the closed model in closed."""
    if plan.division == "open":
        return benchmark
    return closed_model(plan.model_mapping, benchmark)


def closed_model(mapping: Mapping[str, str], benchmark: str) -> str:
    """The closed-division model a benchmark is (the user's mapping, then the catalog's)."""
    if benchmark in CLOSED_MODELS:
        return benchmark
    closed = mapping.get(benchmark) or CATALOG_MODELS.get(benchmark)
    if closed not in CLOSED_MODELS:
        raise SubmissionError(
            f"{benchmark} is not a model of the closed division",
            why="the closed division runs the reference models only",
            hint="submit with --division open",
        )
    return str(closed)


def model_mapping(plan: Plan) -> tuple[dict[str, str], list[Problem]]:
    out, problems = {}, []
    for benchmark in sorted({e.benchmark for e in plan.entries}):
        if benchmark in CLOSED_MODELS:
            continue
        closed = plan.model_mapping.get(benchmark) or CATALOG_MODELS.get(benchmark)
        if closed is None and plan.test:
            closed = "resnet"
        if closed not in CLOSED_MODELS:
            problems.append(
                Problem(
                    where="model_mapping",
                    message=f"{benchmark}: name the closed-division model it stands in for "
                    f"(`model_mapping: {{{benchmark}: resnet}}` in --system FILE)",
                )
            )
            continue
        out[benchmark] = str(closed)
    return out, problems


def write(plan: Plan, out: Path, log: Callable[[str], bytes]) -> Built:
    """The tree under `out` and its tarball; refuses a submitter folder that already exists."""
    check_component(plan.submitter, "--submitter")
    final = out / plan.division / plan.submitter
    if final.exists():
        raise SubmissionError(
            f"{final} already exists",
            hint="remove it, or write to another folder with -o",
        )
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{plan.submitter}.tmp-", dir=out))
    try:
        built = _write_into(plan, work, final, log)
        final.parent.mkdir(parents=True, exist_ok=True)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    tarball = out / f"{plan.submitter}.tar.gz"
    pack(out, plan.division, plan.submitter, tarball)
    return Built(root=final, tarball=tarball, systems=built[0], results=built[1], test=plan.test)


def _write_into(
    plan: Plan, root: Path, final: Path, log: Callable[[str], bytes]
) -> tuple[tuple[SystemDescription, ...], tuple[str, ...]]:
    names = system_names(plan)
    missing: list[Problem] = []
    systems = []
    for point, name in sorted(set(names.items()), key=lambda kv: kv[1]):
        check_component(name, "--system-name")
        doc = next(e.performance.document for e in plan.entries if e.performance.point_id == point)
        desc = describe(
            doc,
            plan.system,
            name=name,
            division=plan.division,
            submitter=plan.submitter,
            test=plan.test,
        )
        if not plan.test:
            missing += [
                Problem(where=f"systems/{name}.json", message=f"{k}: needs a value")
                for k in desc.missing
            ]
        systems.append(desc)
        _json(root / "systems" / f"{name}.json", desc.fields)
    mapping, problems = model_mapping(plan) if plan.division == "open" else ({}, [])
    missing += problems
    if missing:
        raise SubmissionError(
            f"{len(missing)} field(s) of the submission need values mlenv cannot detect",
            problems=missing,
            why="MLPerf's systems JSON describes the whole system (status, storage, cooling, "
            "networking …); a run records only its CPU, memory, accelerators and software",
            hint="write them in a YAML or JSON file (field: value, and `model_mapping:` for "
            "open-division models) and pass --system FILE; or --test for a test submission",
        )
    if mapping:
        _json(root / "model_mapping.json", mapping)
    _write_sources(plan, root / "src", names)
    results = []
    for e in plan.entries:
        rel = Path(
            "results",
            names[e.performance.point_id],
            benchmark_folder(plan, e.benchmark),
            e.scenario,
        )
        _write_entry(plan, e, root / rel, log)
        results.append(str(rel))
    return tuple(systems), tuple(results)


def _write_sources(plan: Plan, src: Path, names: Mapping[str, str]) -> None:
    src.mkdir(parents=True, exist_ok=True)
    for point, files in plan.sources.items():
        if point not in names:
            continue
        folder = src / point.removeprefix("sha256:")[:16]
        for rel, data in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    (src / "README.md").write_text(readme.sources(plan, names), encoding="utf-8")


def _write_entry(plan: Plan, e: Entry, folder: Path, log: Callable[[str], bytes]) -> None:
    perf, acc = e.performance, e.accuracy
    run_1 = folder / "performance" / "run_1"
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        _copy_log(perf.logs, name, run_1, log, perf.run_id)
    accuracy = folder / "accuracy"
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        _copy_log(acc.logs, name, accuracy, log, acc.run_id)
    whole = log(_needed(acc.logs, "mlperf_log_accuracy.json", acc.run_id))
    (accuracy / "mlperf_log_accuracy.json").write_bytes(A.truncate(whole))
    values = acc.document.get("accuracy") or {}
    samples = acc.document.get("samples")
    text = A.accuracy_text(values, samples if isinstance(samples, int) else None, whole)
    (accuracy / "accuracy.txt").write_text(text, encoding="utf-8")
    _json(folder / "measurements.json", _measurements(plan, e))
    conf = perf.logs.get("user.conf")
    (folder / "user.conf").write_bytes(log(conf) if conf else _user_conf(e).encode())
    (folder / "README.md").write_text(readme.scenario(plan, e), encoding="utf-8")
    if plan.division == "closed":
        for test in compliance_tests(closed_model(plan.model_mapping, e.benchmark)):
            if test in e.compliance:  # a test submission may lack them (refused otherwise)
                C.write_test(folder / test, test, e.compliance[test], log)


def _measurements(plan: Plan, e: Entry) -> dict[str, Any]:
    given = dict(plan.measurements.get(e.benchmark) or {})
    out = {k: given.get(k) for k in MEASUREMENT_FIELDS}
    out = {k: v if v not in (None, "") else PLACEHOLDER for k, v in out.items()}
    out.update({k: v for k, v in given.items() if k not in out})
    return out


def _user_conf(e: Entry) -> str:
    settings = e.performance.document.get("settings") or {}
    lines = [f"{e.benchmark}.{e.scenario}.{k} = {v}" for k, v in sorted(settings.items())]
    return "\n".join(lines or [f"# {e.benchmark}.{e.scenario}: LoadGen's defaults"]) + "\n"


def _needed(logs: Mapping[str, str], name: str, run_id: str) -> str:
    sha = logs.get(name)
    if not sha:
        raise SubmissionError(
            f"run {run_id} has no {name} in the results database",
            why="the run was recorded without its LoadGen files",
            hint="record the run's results/ folder with `mlenv results import`",
        )
    return sha


def _copy_log(
    logs: Mapping[str, str], name: str, folder: Path, log: Callable[[str], bytes], run_id: str
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(log(_needed(logs, name, run_id)))


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def pack(out: Path, division: str, submitter: str, tarball: Path) -> None:
    """A deterministic `<submitter>.tar.gz` of `<division>/<submitter>/` (sorted, mtime 0)."""
    base = out / division / submitter

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info

    tmp = tarball.with_name(f".{tarball.name}.tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=9) as tar:
        tar.add(base.parent, arcname=division, recursive=False, filter=clean)
        tar.add(base, arcname=f"{division}/{submitter}", recursive=False, filter=clean)
        for path in sorted(base.rglob("*")):
            tar.add(
                path,
                arcname=f"{division}/{submitter}/{path.relative_to(base)}",
                recursive=False,
                filter=clean,
            )
    tmp.replace(tarball)


def measurement_defaults(
    models: Mapping[str, Mapping[str, Any]], benchmarks: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """measurements.json fields per benchmark from what the model recipes say."""
    out = {}
    for b in benchmarks:
        m = models.get(b) or {}
        dtype = m.get("input_dtype")
        out[b] = {
            "input_data_types": dtype,
            "retraining": "No",
            "starting_weights_filename": m.get("weights"),
            "weight_data_types": m.get("weight_dtype") or dtype,
            "weight_transformations": "none",
        }
    return out
