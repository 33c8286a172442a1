"""`mlenv pack`: one archive that installs and re-runs a lock section with no network at all."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from mlenv import __version__
from mlenv.envs.artifacts import ArtifactContext
from mlenv.envs.bundle import (
    BUILTIN,
    PROJECT,
    RECORDED_ENV,
    Member,
    recipe_member,
    store_members,
    write_bundle,
)
from mlenv.envs.download import FetchOptions
from mlenv.envs.materialize import ENV_FILE
from mlenv.envs.store import Store, sha256_file
from mlenv.errors import LockError, UsageError
from mlenv.lock import LockTarget
from mlenv.names import within
from mlenv.paths import BUILTIN_PREFIX, project_env_dir

from ..context import Context
from ..output import emit_json

COMMANDS = ("pack",)
RESULT_FILES = ("result.json", "mlperf_log_summary.txt", "accuracy.txt", "user.conf")


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="write an offline bundle of the lock, its files and its results")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="the archive to write (.tar, or .tar.gz); default <name>-<target>.mlenv.tar "
        "beside the manifest",
    )
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    p.set_defaults(func=run)


def _recipe_members(ctx: Context, section: LockTarget) -> list[Member]:
    out = []
    for name, pkg in sorted(section.packages.items()):
        member = recipe_member(pkg.file) if pkg.file else None
        if member is None or pkg.file.startswith("/"):
            raise UsageError(
                f"the recipe of {name} ({pkg.file or 'no file label'}) lies outside the project "
                "folder, so it cannot be packed",
                where=str(ctx.lock_path),
                hint="keep the manifest's recipe folders inside the project folder "
                "(e.g. recipes: [./recipes]) and run `mlenv resolve`",
            )
        if pkg.file.startswith(BUILTIN_PREFIX):
            rel = pkg.file[len(BUILTIN_PREFIX) :]
            source = within(ctx.builtin_dir, rel, what=f"recipe of {name}")
        else:
            source = within(ctx.project_dir, pkg.file, what=f"recipe of {name}")
        if not source.is_file() or f"sha256:{sha256_file(source)}" != pkg.recipe:
            raise LockError(
                f"the recipe of {name} changed since the lock was written ({pkg.file})",
                where=str(source),
                why="a bundle must hold the very recipes the lock was solved from",
                hint="run `mlenv resolve` and `mlenv run` again, then pack",
            )
        out.append(Member(path=member, source=source, role="recipe"))
    return out


def _result_members(ctx: Context, section: LockTarget) -> tuple[list[Member], int]:
    """result.json files of this lock section (and the logs beside them); how many were skipped."""
    root = ctx.project_dir / "results"
    out, skipped = [], 0
    base = within(root, section.name, what="target")
    for result in sorted(base.glob("**/result.json")):
        if any(part.startswith(".") for part in result.relative_to(base).parts):
            continue  # the staging folder of a run in progress or killed (`.run_1.tmp-<pid>`)
        try:
            doc = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            skipped += 1
            continue
        if not isinstance(doc, dict) or doc.get("lock") != section.digest():
            skipped += 1
            continue
        for name in RESULT_FILES:
            path = result.parent / name
            if path.is_file():
                rel = path.relative_to(ctx.project_dir).as_posix()
                role = "result" if name == "result.json" else "log"
                out.append(Member(path=f"{PROJECT}/{rel}", source=path, role=role))
    return out, skipped


def _env_member(ctx: Context, section: LockTarget) -> list[Member]:
    path = project_env_dir(ctx.project_dir, section.name) / ENV_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(info, dict) or info.get("lock") != section.digest():
        return []
    return [Member(path=RECORDED_ENV, source=path, role="env")]


def default_output(ctx: Context, section: LockTarget) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", ctx.manifest.name).strip("-") or "bundle"
    return ctx.project_dir / f"{name}-{section.name}.mlenv.tar"


def run(args: argparse.Namespace, ctx: Context) -> int:
    lock = ctx.lock()
    section = ctx.lock_section(lock, args.target)
    manifest = ctx.manifest
    if lock.manifest != manifest.digest():
        raise LockError(
            f"{ctx.manifest_path.name} changed since the lock was written",
            where=str(ctx.lock_path),
            why="a bundle must hold the manifest its lock was solved from",
            hint="run `mlenv resolve` (and `mlenv run` to record results), then pack",
        )
    out = (args.output or default_output(ctx, section)).absolute()
    if out.is_dir():
        raise UsageError(f"{out} is a folder", hint="pass a file name to -o, e.g. -o bundle.tar")
    members = [
        Member(path=f"{PROJECT}/mlenv.yaml", source=ctx.manifest_path, role="manifest"),
        Member(path=f"{PROJECT}/mlenv.lock", source=ctx.lock_path, role="lock"),
        *_recipe_members(ctx, section),
        *_env_member(ctx, section),
    ]
    results, skipped = _result_members(ctx, section)
    members += results
    ctx.reporter.info(f"collecting the files of {section.name} from the store")
    actx = ArtifactContext(
        store=Store(ctx.home),
        project_dir=ctx.project_dir,
        builtin_dir=ctx.builtin_dir,
        options=FetchOptions(offline=ctx.options.offline, mirrors=ctx.mirrors()),
        reporter=ctx.reporter,
        environ=ctx.environ,
    )
    members += store_members(section, actx)
    local = [a.local_env for a in section.artifacts if a.local_env]
    bundle = write_bundle(
        out,
        name=manifest.name,
        section=section,
        mlenv_version=__version__,
        members=members,
        local=local,
    )
    n_results = sum(1 for m in results if m.role == "result")
    if skipped:
        ctx.reporter.warn(f"skipped {skipped} result(s) recorded with another lock")
    if not n_results:
        ctx.reporter.warn(
            "the bundle holds no results of this lock: it installs, but there is nothing to "
            "reproduce (run `mlenv run` first)"
        )
    for var in local:
        ctx.reporter.warn(f"user-supplied data is not inside the bundle: ${var}")
    size = out.stat().st_size
    digest = sha256_file(out)
    ctx.console.print(
        f"[bold]{out}[/bold]: {len(bundle.files)} files, {size / 1e6:.1f} MB, "
        f"{n_results} result(s) of {section.name}"
    )
    ctx.console.print(f"  sha256 {digest}  (give it to whoever checks the bundle)")
    if ctx.options.json:
        emit_json(
            {
                "version": 1,
                "ok": True,
                "bundle": str(out),
                "sha256": digest,
                "size": size,
                "target": section.name,
                "files": len(bundle.files),
                "results": n_results,
                "local": local,
                "builtin": sum(1 for f in bundle.files if f.path.startswith(f"{BUILTIN}/")),
            }
        )
    else:
        sys.stdout.write(f"{out}\n")
    return 0
