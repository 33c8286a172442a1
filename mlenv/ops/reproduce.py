"""reproduce: verify a bundle, install it offline into its own folder (a private store, a
project of its own), re-run the recorded scenarios and modes, compare (`mlenv.ops.verdicts`),
and write report.md, report.html and report.json."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from mlenv.envs.bundle import (
    BUILTIN,
    PROJECT,
    RECORDED_ENV,
    BundleManifest,
    missing_from,
    seed_store,
    verify_bundle,
)
from mlenv.envs.bundle_tar import unpack_bundle
from mlenv.envs.detect import Detects, detect_declarations
from mlenv.envs.materialize import Environment
from mlenv.envs.store import Store
from mlenv.errors import IntegrityError, MlenvError, UsageError
from mlenv.index import RecipeIndex, RecipeRoot, index_roots, load_index
from mlenv.lock import LockTarget, load_lock
from mlenv.machine import machine_facts
from mlenv.manifest import DEFAULT_PROFILE, MODES, SCENARIOS, Benchmark
from mlenv.names import within
from mlenv.paths import BUILTIN_PREFIX, builtin_recipes_dir

from .benchrun import run_benchmark
from .install import ensure_env
from .measure import Measure, tree_bytes
from .project import Project
from .reportview import render_html, render_markdown
from .verdicts import Reproduction, badges, compare

MARKER = ".mlenv-reproduction"
WORK = ("bundle", "project", "builtin", "home", "results")
REPORTS = ("report.md", "report.html", "report.json")
ENV_KEYS = ("target", "lock", "pypi", "conda", "artifacts", "system")
MIN_REPEATS = 3  # a performance result is measured again at least this many times by default
# ... and a result recorded from one run this many: with 3 runs here, a single recorded run on a
# merely noisy machine falls outside 2 x their spread about one time in ten; with 5, one in fifty
SINGLE_RUN_REPEATS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class ReproduceResult:
    reproduction: Reproduction  # the verdicts: figures, badges, machines
    out: Path  # the reproduction folder
    reports: Mapping[str, Path]  # md, html, json
    environment: Path | None  # the environment built from the bundle (None: the install failed)

    @property
    def reproduced(self) -> bool:
        return self.reproduction.reproduced


@dataclass(kw_only=True)
class BundleProject(Project):
    """The bundle's own project: its recipes (the built-in ones from the bundle's copies, not
    this mlenv's), a private MLENV_HOME (in `environ`), offline."""

    builtin_root: Path

    @cached_property
    def index(self) -> RecipeIndex:
        roots = [
            RecipeRoot(label=r.label, path=self.builtin_root) if r.label == BUILTIN_PREFIX else r
            for r in index_roots(self.project_dir, self.manifest.recipes)
        ]
        return load_index(roots, cache_dir=self.home / "cache" / "index")

    @property
    def builtin_dir(self) -> Path:
        return self.builtin_root


def catalog_detects(section: LockTarget, home: Path) -> Detects:
    """How to re-detect the section's system tools: the `detect:` sources of mlenv's own
    built-in catalog (a bundle's recipes, built-in copies included, are data: never run)."""
    if not section.system:
        return {}
    catalog = load_index(
        [RecipeRoot(label=BUILTIN_PREFIX, path=builtin_recipes_dir())],
        cache_dir=home / "cache" / "index",
    )
    return detect_declarations(catalog, {pin.package for pin in section.system})


def private_environ(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """The user's environment without uv or mlenv settings, with a private home, offline."""
    out = {
        k: v
        for k, v in environ.items()
        if not k.startswith("UV_") and k not in ("MLENV_HOME", "MLENV_MIRROR")
    }
    out.update(
        {
            "MLENV_HOME": str(home),
            "UV_OFFLINE": "1",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
        }
    )
    return out


def prepare_out(out: Path, source: Path) -> None:
    """Make `out` (or reuse a folder an earlier reproduction made), emptied of its work."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="pass a folder to --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(
            f"{out} exists and is not a folder `mlenv reproduce` made",
            hint="pass --out a new or empty folder (a reproduction folder is reused)",
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `mlenv reproduce`\n", encoding="utf-8")
    keep = source.resolve()
    for name in WORK:
        folder = out / name
        if folder.exists() and not keep.is_relative_to(folder.resolve()):
            shutil.rmtree(folder)
    for name in REPORTS:
        (out / name).unlink(missing_ok=True)


def env_differences(recorded: Path, env: Environment | None) -> list[str]:
    if env is None:
        return ["no environment was built, so none could be compared"]
    try:
        before = json.loads(recorded.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["the bundle holds no recorded env.json, so the environment was not compared"]
    out = []
    for key in ENV_KEYS:
        old, new = before.get(key), env.info.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name):
                    out.append(f"{key} {name}: recorded {old.get(name)}, now {new.get(name)}")
        elif old != new:
            out.append(f"{key}: recorded {old}, now {new}")
    return out


def recorded_results(root: Path, bundle: BundleManifest) -> list[dict[str, Any]]:
    out = []
    for f in bundle.of_role("result"):
        try:
            doc = json.loads(within(root, f.path, what="bundle file").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise IntegrityError(f"{f.path} in the bundle is unreadable", why=str(e)) from e
        if isinstance(doc, dict):
            out.append({**doc, "_path": f.path})
    return out


def _order(doc: dict[str, Any]) -> tuple[int, int]:
    s, m = doc.get("scenario"), doc.get("mode")
    return (
        SCENARIOS.index(s) if s in SCENARIOS else len(SCENARIOS),
        MODES.index(m) if m in MODES else len(MODES),
    )


def _reason(stage: str, e: MlenvError, *, hint: bool = False) -> str:
    why = f": {e.why.splitlines()[0]}" if e.why else ""
    return f"{stage}: {e.message}{why}" + (f" ({e.hint})" if hint and e.hint else "")


def calibrated_keys(doc: Mapping[str, Any]) -> set[str]:
    """The settings the recorded run's calibration chose (`benchmark_config.calibrated_keys`;
    absent: none): this machine calibrates its own."""
    config = doc.get("benchmark_config")
    keys = config.get("calibrated_keys") if isinstance(config, Mapping) else None
    return {str(k) for k in keys} if isinstance(keys, list) else set()


def rerun_settings(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded LoadGen settings minus the ones calibration chose, so that expected QPS and
    latencies are calibrated again on the reproducing machine and validity is its own."""
    settings = doc.get("settings")
    if not isinstance(settings, Mapping):
        return {}
    dropped = calibrated_keys(doc)
    return {k: v for k, v in settings.items() if k not in dropped}


def repeats_for(doc: Mapping[str, Any], repeat: int | None) -> int:
    """How many times to measure a recorded result again: `repeat` when given; else a
    performance result as often as it was (at least MIN_REPEATS; SINGLE_RUN_REPEATS for a single
    recorded run, whose own noise is unseen: only the runs here can show it), an accuracy result
    once."""
    if doc.get("mode") != "performance":
        return 1
    if repeat is not None:
        return repeat
    recorded = doc.get("repeats")
    if not isinstance(recorded, list) or len(recorded) < 2:
        return SINGLE_RUN_REPEATS
    return max(MIN_REPEATS, len(recorded))


def measure_for(
    doc: Mapping[str, Any],
    bench: Benchmark,
    times: int,
    machine: Mapping[str, Any],
    env_bytes: int | None = None,
) -> Measure:
    """How to measure a recorded result again: its profile and subset, `times` repeats, the
    knobs the bundle's manifest fixes left alone and the rest calibrated on this machine."""
    profile, samples = doc.get("profile"), doc.get("samples")
    return Measure(
        profile=profile if isinstance(profile, str) else DEFAULT_PROFILE,
        samples=samples if isinstance(samples, int) and not isinstance(samples, bool) else None,
        repeat=times,
        fixed=bench.fixed,
        machine=machine,
        env_bytes=env_bytes,
    )


def _measure(
    project: Project,
    section: LockTarget,
    env: Environment,
    bench: Benchmark,
    doc: Mapping[str, Any],
    times: int,
    out: Path,
    machine: Mapping[str, Any],
) -> dict[str, Any]:
    """One recorded scenario x mode measured again, `times` times (the repeats merged by
    `run_benchmark`: medians at the top, every repeat listed)."""
    scenario, mode = str(doc.get("scenario")), str(doc.get("mode"))
    (result,) = run_benchmark(
        project,
        section,
        env,
        bench,
        scenarios=[scenario],
        modes=[mode],
        overrides={scenario: rerun_settings(doc)},
        results_root=out / "results",
        measure=measure_for(doc, bench, times, machine, tree_bytes(env.path)),
    )
    return result


def rerun(
    project: Project,
    section: LockTarget,
    env: Environment,
    recorded: list[dict[str, Any]],
    out: Path,
    *,
    repeat: int | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each recorded scenario x mode again (performance ones repeated, `repeats_for`), with its
    recorded settings less the calibrated ones; failures as reasons."""
    bench = project.manifest.benchmark
    if bench is None:
        return [], ["the bundle's manifest has no `benchmark:` section to run"]
    docs, failures = [], []
    machine = machine_facts(project.environ)
    for doc in sorted(recorded, key=_order):
        scenario, mode = str(doc.get("scenario")), str(doc.get("mode"))
        if scenario not in SCENARIOS or mode not in MODES:
            failures.append(f"{doc['_path']}: unknown scenario or mode {scenario} {mode}")
            continue
        try:
            docs.append(
                _measure(project, section, env, bench, doc, repeats_for(doc, repeat), out, machine)
            )
        except MlenvError as e:
            failures.append(_reason(f"{scenario} {mode}", e))
    return docs, failures


def _verified(project: Project, source: Path, out: Path) -> tuple[Path, BundleManifest]:
    """The bundle's root folder and its listing, every file's sha256 checked."""
    if source.is_file():
        root = out / "bundle"
        project.reporter.info(f"unpacking {source.name} into {root}, checking every file's sha256")
        return root, unpack_bundle(source, root)  # bounded, verified while written
    project.reporter.info("verifying the sha256 of every file in the bundle")
    return source, verify_bundle(source, str(source))


def _section(root: Path, bundle: BundleManifest, folder: Path, source: Path) -> LockTarget:
    """The lock section the bundle was packed for, from its copy of the project in `folder`."""
    if not (root / PROJECT / "mlenv.lock").is_file():
        raise IntegrityError(
            f"the bundle holds no {PROJECT}/mlenv.lock",
            where=str(source),
            hint="the bundle is incomplete: get a fresh copy from its author",
        )
    shutil.copytree(root / PROJECT, folder)
    section = load_lock(folder / "mlenv.lock").targets.get(bundle.target)
    if section is None or section.digest() != bundle.lock:
        raise IntegrityError(
            f"the bundle's lock does not hold the section it was packed for ({bundle.target})",
            where=str(root / PROJECT / "mlenv.lock"),
            why=f"bundle.json names {bundle.lock}",
            hint="the bundle is inconsistent: get a fresh copy from its author",
        )
    return section


def bundle_project(project: Project, root: Path, out: Path) -> BundleProject:
    """The unpacked project under `out/project` (its built-in recipes under `out/builtin`),
    with a private MLENV_HOME under `out/home`, offline."""
    folder, builtin = out / "project", out / "builtin"
    if (root / BUILTIN).is_dir():
        shutil.copytree(root / BUILTIN, builtin)
    builtin.mkdir(exist_ok=True)
    unpacked = BundleProject(
        manifest_path=folder / "mlenv.yaml",
        lock_file=folder / "mlenv.lock",
        environ=private_environ(project.environ, out / "home"),
        reporter=project.reporter,
        offline=True,
        builtin_root=builtin,
    )
    for name in unpacked.manifest.recipes:  # a recipe folder the bundle holds nothing of
        path = (folder / name).resolve()
        if path.is_relative_to(folder.resolve()):
            path.mkdir(parents=True, exist_ok=True)
    return unpacked


def write_reports(rep: Reproduction, out: Path) -> dict[str, Path]:
    paths = {"md": out / "report.md", "html": out / "report.html", "json": out / "report.json"}
    paths["md"].write_text(render_markdown(rep), encoding="utf-8")
    paths["html"].write_text(render_html(rep), encoding="utf-8")
    text = json.dumps(rep.to_dict(), indent=2, sort_keys=True) + "\n"
    paths["json"].write_text(text, encoding="utf-8")
    return paths


def _install_and_rerun(
    unpacked: Project,
    section: LockTarget,
    recorded: list[dict[str, Any]],
    out: Path,
    repeat: int | None,
) -> tuple[Environment | None, list[dict[str, Any]], list[str]]:
    failures: list[str] = []
    docs: list[dict[str, Any]] = []
    env: Environment | None = None
    try:
        detects = catalog_detects(section, unpacked.home)
        env, _ = ensure_env(unpacked, section, detects=detects)
    except MlenvError as e:
        failures.append(_reason("install", e, hint=True))  # e.g. what missing data must hold
    if env is not None and recorded:
        docs, run_failures = rerun(unpacked, section, env, recorded, out, repeat=repeat)
        failures += run_failures
    return env, docs, failures


def recorded_machine(recorded: list[dict[str, Any]]) -> dict[str, Any]:
    """The `machine` (CPU, cores, memory, accelerators) the first recorded result names."""
    for doc in sorted(recorded, key=_order):
        if isinstance(doc.get("machine"), dict):
            return dict(doc["machine"])
    return {}


def _check_arguments(source: Path, tolerance: float, repeat: int | None) -> None:
    if not source.exists():
        raise UsageError(
            f"no bundle at {source}",
            hint="pass the .tar file `mlenv pack` wrote, or the folder it was unpacked into",
        )
    if not tolerance >= 0:
        raise UsageError(f"--tolerance {tolerance} is negative", hint="e.g. --tolerance 5")
    if repeat is not None and repeat < 1:
        raise UsageError(f"--repeat {repeat} is less than 1", hint="e.g. --repeat 3")


def reproduce(
    project: Project,
    bundle: Path,
    *,
    out: Path,
    tolerance: float,
    repeat: int | None = None,
) -> ReproduceResult:
    """`bundle` (a file `pack` wrote, or the folder it was unpacked into) reproduced in `out`
    (a new or empty folder, or one an earlier reproduction made). `project` gives the user's
    environment, reporter and host; the bundle is installed into its own project and home.
    Performance results are measured `repeat` times (default: as often as recorded, at least
    MIN_REPEATS) and compared by their medians (`mlenv.ops.verdicts`)."""
    source, out = bundle.absolute(), out.absolute()
    _check_arguments(source, tolerance, repeat)
    prepare_out(out, source)
    root, listing = _verified(project, source, out)
    section = _section(root, listing, out / "project", source)
    unpacked = bundle_project(project, root, out)
    missing = missing_from(listing, section)
    seeded = seed_store(root, listing, Store(unpacked.home))
    project.reporter.info(f"seeded a private store with {seeded} file(s): {unpacked.home}")
    recorded = recorded_results(root, listing)
    env, docs, failures = _install_and_rerun(unpacked, section, recorded, out, repeat)
    figures = compare(recorded, docs, tolerance)
    rep = Reproduction(
        bundle=source.name,
        target=section.name,
        lock=listing.lock,
        tolerance=tolerance,
        badges=badges(
            missing=missing,
            verified_files=len(listing.files),
            local=listing.local,
            failures=failures,
            runs=len(docs),
            figures=figures,
            tolerance=tolerance,
        ),
        figures=tuple(figures),
        env_differences=tuple(env_differences(root / RECORDED_ENV, env)),
        recorded_facts=section.facts,
        machine=project.host.to_dict(),
        recorded_hardware=recorded_machine(recorded),
        hardware=machine_facts(project.environ),
        failures=tuple(failures),
        paths={
            "report": str(out / "report.md"),
            "html": str(out / "report.html"),
            "results": str(out / "results"),
            "environment": str(env.path) if env else "",
        },
    )
    reports = write_reports(rep, out)
    return ReproduceResult(
        reproduction=rep, out=out, reports=reports, environment=env.path if env else None
    )
