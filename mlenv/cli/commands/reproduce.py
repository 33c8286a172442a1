"""`mlenv reproduce`: verify a bundle, install it offline into its own folder, re-run the recorded
scenarios and modes, compare, and write a report with a verdict per artifact-evaluation badge."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rich.table import Table

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
from mlenv.errors import IntegrityError, MlenvError, RunError, UsageError
from mlenv.index import RecipeIndex, RecipeRoot, index_roots, load_index
from mlenv.lock import LockTarget, load_lock
from mlenv.manifest import MODES, SCENARIOS
from mlenv.names import within
from mlenv.ops.benchrun import run_benchmark
from mlenv.ops.install import ensure_env
from mlenv.paths import BUILTIN_PREFIX, builtin_recipes_dir

from ..context import Context, Options
from ..output import emit_json, render_error
from ..report import Reproduction, badges, compare, render_html, render_markdown

COMMANDS = ("reproduce",)
MARKER = ".mlenv-reproduction"
WORK = ("bundle", "project", "builtin", "home", "results")
REPORTS = ("report.md", "report.html", "report.json")
ENV_KEYS = ("target", "lock", "pypi", "conda", "artifacts", "system")


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="install a bundle offline, re-run its results and compare")
    p.add_argument("bundle", metavar="BUNDLE|DIR", help="a file `mlenv pack` wrote, or its folder")
    p.add_argument(
        "--tolerance",
        metavar="PCT",
        type=float,
        default=5.0,
        help="how far samples/s may move, in percent either way (default 5)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="where to unpack, install, run and report (default ./reproduction/)",
    )
    p.set_defaults(func=run)


@dataclass(kw_only=True)
class BundleContext(Context):
    """A context on the bundle's own project: its recipes (built-in ones included), a private
    MLENV_HOME, offline."""

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


def private_environ(environ: dict[str, str], home: Path) -> dict[str, str]:
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


def _reason(stage: str, e: MlenvError) -> str:
    why = f": {e.why.splitlines()[0]}" if e.why else ""
    return f"{stage}: {e.message}{why}"


def rerun(
    bctx: BundleContext, section: Any, env: Environment, recorded: list[dict[str, Any]], out: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    bench = bctx.manifest.benchmark
    if bench is None:
        return [], ["the bundle's manifest has no `benchmark:` section to run"]
    docs, failures = [], []
    for doc in sorted(recorded, key=_order):
        scenario, mode = str(doc.get("scenario")), str(doc.get("mode"))
        if scenario not in SCENARIOS or mode not in MODES:
            failures.append(f"{doc['_path']}: unknown scenario or mode {scenario} {mode}")
            continue
        settings = doc.get("settings") if isinstance(doc.get("settings"), dict) else {}
        try:
            docs += run_benchmark(
                bctx.project,
                section,
                env,
                bench,
                scenarios=[scenario],
                modes=[mode],
                overrides={scenario: dict(settings or {})},
                results_root=out / "results",
            )
        except MlenvError as e:
            failures.append(_reason(f"{scenario} {mode}", e))
    return docs, failures


def run(args: argparse.Namespace, ctx: Context) -> int:
    source = Path(args.bundle).absolute()
    if not source.exists():
        raise UsageError(
            f"no bundle at {source}",
            hint="pass the .tar file `mlenv pack` wrote, or the folder it was unpacked into",
        )
    if not args.tolerance >= 0:
        raise UsageError(f"--tolerance {args.tolerance} is negative", hint="e.g. --tolerance 5")
    out = (args.out or Path("reproduction")).absolute()
    prepare_out(out, source)
    root = source
    if source.is_file():
        root = out / "bundle"
        ctx.reporter.info(f"unpacking {source.name} into {root}, checking every file's sha256")
        bundle = unpack_bundle(source, root)  # bounded, verified while written
    else:
        ctx.reporter.info("verifying the sha256 of every file in the bundle")
        bundle = verify_bundle(root, str(source))
    project, builtin, home = out / "project", out / "builtin", out / "home"
    if not (root / PROJECT / "mlenv.lock").is_file():
        raise IntegrityError(
            f"the bundle holds no {PROJECT}/mlenv.lock",
            where=str(source),
            hint="the bundle is incomplete: get a fresh copy from its author",
        )
    shutil.copytree(root / PROJECT, project)
    if (root / BUILTIN).is_dir():
        shutil.copytree(root / BUILTIN, builtin)
    builtin.mkdir(exist_ok=True)
    lock = load_lock(project / "mlenv.lock")
    section = lock.targets.get(bundle.target)
    if section is None or section.digest() != bundle.lock:
        raise IntegrityError(
            f"the bundle's lock does not hold the section it was packed for ({bundle.target})",
            where=str(root / PROJECT / "mlenv.lock"),
            why=f"bundle.json names {bundle.lock}",
            hint="the bundle is inconsistent: get a fresh copy from its author",
        )
    missing = missing_from(bundle, section)
    seeded = seed_store(root, bundle, Store(home))
    ctx.reporter.info(f"seeded a private store with {seeded} file(s): {home}")
    bctx = BundleContext(
        options=Options(
            manifest=project / "mlenv.yaml",
            lock=project / "mlenv.lock",
            json=ctx.options.json,
            offline=True,
            debug=ctx.options.debug,
        ),
        console=ctx.console,
        environ=private_environ(dict(ctx.environ), home),
        builtin_root=builtin,
    )
    for folder in bctx.manifest.recipes:
        path = (project / folder).resolve()
        if path.is_relative_to(project.resolve()):
            path.mkdir(parents=True, exist_ok=True)
    recorded = recorded_results(root, bundle)
    failures: list[str] = []
    docs: list[dict[str, Any]] = []
    env: Environment | None = None
    try:
        env, _ = ensure_env(bctx.project, section, detects=catalog_detects(section, home))
    except MlenvError as e:
        failures.append(_reason("install", e))
    if env is not None and recorded:
        docs, run_failures = rerun(bctx, section, env, recorded, out)
        failures += run_failures
    figures = compare(recorded, docs, args.tolerance)
    rep = Reproduction(
        bundle=source.name,
        target=section.name,
        lock=bundle.lock,
        tolerance=args.tolerance,
        badges=badges(
            missing=missing,
            verified_files=len(bundle.files),
            local=bundle.local,
            failures=failures,
            runs=len(docs),
            figures=figures,
            tolerance=args.tolerance,
        ),
        figures=tuple(figures),
        env_differences=tuple(env_differences(root / RECORDED_ENV, env)),
        recorded_facts=section.facts,
        machine=ctx.host.to_dict(),
        failures=tuple(failures),
        paths={
            "report": str(out / "report.md"),
            "html": str(out / "report.html"),
            "results": str(out / "results"),
            "environment": str(env.path) if env else "",
        },
    )
    (out / "report.md").write_text(render_markdown(rep), encoding="utf-8")
    (out / "report.html").write_text(render_html(rep), encoding="utf-8")
    (out / "report.json").write_text(
        json.dumps(rep.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    table = Table(title=f"reproduction of {source.name}", title_justify="left")
    for column in ("badge", "verdict", "why"):
        table.add_column(column)
    for b in rep.badges:
        verdict = "[green]yes[/green]" if b.awarded else "[red]no[/red]"
        table.add_row(b.name, verdict, "\n".join(b.reasons))
    ctx.console.print(table)
    ctx.console.print(f"report: {out / 'report.md'} and {out / 'report.html'}")
    if ctx.options.json:
        emit_json(rep.to_dict())
    if not rep.reproduced:
        lost = [b.name for b in rep.badges if not b.awarded]
        render_error(
            ctx.console,
            RunError(
                f"not reproduced: no {', no '.join(lost)} badge",
                hint=f"see {out / 'report.md'} for each figure",
            ),
        )
        return 1
    return 0
