"""`mlenv resolve`: solve the manifest for its targets and write mlenv.lock."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mlenv.envs.detect import detect_tools
from mlenv.errors import LockError, MlenvError
from mlenv.lock import Lock, write_lock
from mlenv.resolver.lockgen import ResolveOptions, build_lock, root_requirements
from mlenv.resolver.pypi import UvOptions
from mlenv.resolver.reach import reachable

from ..context import Context
from ..output import emit_json
from ..projectlock import project_lock

COMMANDS = ("resolve",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="solve mlenv.yaml into mlenv.lock")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="T",
        help="lock only this target (repeatable; default: the manifest's targets)",
    )
    p.add_argument("--upgrade", action="store_true", help="release every existing pin")
    p.add_argument(
        "--upgrade-package",
        action="append",
        default=[],
        metavar="N",
        help="release the pin of this package (repeatable)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the lock is missing, stale or lacks a target; write nothing",
    )
    p.set_defaults(func=run)


def resolve_options(
    ctx: Context, *, upgrade: bool = False, upgrade_packages: Sequence[str] = ()
) -> ResolveOptions:
    """What every resolve needs besides the manifest: uv, pins policy, detected tools."""
    # only the recipes a solve of this manifest can visit run their `detect:` program
    visited = reachable(ctx.index, root_requirements(ctx.manifest))
    return ResolveOptions(
        uv=UvOptions(
            uv=ctx.uv, cache_dir=ctx.uv_cache, offline=ctx.options.offline, environ=ctx.environ
        ),
        upgrade=upgrade,
        upgrade_packages=frozenset(upgrade_packages),
        tools=detect_tools(ctx.index, ctx.environ, visited),
        project_dir=ctx.project_dir,
        conda_cache=ctx.home / "cache" / "rattler" / "repodata",
    )


def previous_lock(ctx: Context) -> Lock | None:
    if not ctx.lock_path.exists():
        return None
    try:
        return ctx.lock()
    except MlenvError as e:
        ctx.reporter.warn(f"ignoring the unreadable existing lock ({e.message}); resolving afresh")
        return None


def staleness(ctx: Context, lock: Lock | None, targets: list[str]) -> list[str]:
    """Why the lock no longer matches its inputs (empty: up to date)."""
    if lock is None:
        return [f"no lock file at {ctx.lock_path}"]
    reasons = []
    if lock.manifest != ctx.manifest.digest():
        reasons.append(f"{ctx.manifest_path.name} changed since the lock was written")
    for name in targets:
        section_name = ctx.target(name).name
        if section_name not in lock.targets:
            reasons.append(f"target {section_name} is not in the lock")
    for section in lock.targets.values():
        for pname, package in sorted(section.packages.items()):
            located = ctx.index.get(pname)
            if located is None:
                reasons.append(f"recipe {pname} is gone from the index")
            elif f"sha256:{located.recipe.sha256}" != package.recipe:
                reasons.append(f"recipe {pname} changed ({located.label})")
    return sorted(set(reasons))


def run(args: argparse.Namespace, ctx: Context) -> int:
    manifest = ctx.manifest
    names = list(dict.fromkeys(args.target or manifest.targets))
    if args.check:
        return check(ctx, names)
    with project_lock(ctx.project_dir, waiting=ctx.reporter.info):
        return resolve(args, ctx, names)


def check(ctx: Context, names: list[str]) -> int:
    """`--check`: exit 1 when the lock is stale; reads only, so it takes no project lock."""
    lock = previous_lock(ctx)
    reasons = staleness(ctx, lock, names)
    if reasons:
        raise LockError(
            f"{ctx.lock_path.name} is out of date",
            where=str(ctx.lock_path),
            why="; ".join(reasons),
            hint="run `mlenv resolve` to update it",
            details={"stale": reasons},
        )
    ctx.reporter.info(f"{ctx.lock_path.name} is up to date")
    if ctx.options.json:
        emit_json({"version": 1, "ok": True, "stale": []})
    return 0


def resolve(args: argparse.Namespace, ctx: Context, names: list[str]) -> int:
    """Read the old lock, solve, write: under the project lock (see run)."""
    manifest = ctx.manifest
    lock = previous_lock(ctx)
    targets = ctx.targets(names)
    keep = {}
    if lock is not None and args.target:
        wanted = {ctx.target(n).name for n in manifest.targets}
        keep = {n: s for n, s in lock.targets.items() if n in wanted}
    options = resolve_options(ctx, upgrade=args.upgrade, upgrade_packages=args.upgrade_package)
    for t in targets:
        ctx.reporter.info(f"resolving for target {t.name}")
    new = build_lock(ctx.index, manifest, targets, options, previous=lock, keep=keep)
    changed = write_lock(ctx.lock_path, new)
    verb = "wrote" if changed else "unchanged:"
    ctx.reporter.info(f"{verb} {ctx.lock_path} ({', '.join(sorted(new.targets))})")
    for name in sorted(new.targets):
        section = new.targets[name]
        if name in {t.name for t in targets}:
            ctx.console.print(
                f"  [bold]{name}[/bold]: {len(section.packages)} recipes, {len(section.pypi)} "
                f"PyPI packages, {len(section.artifacts)} artifacts"
            )
    if ctx.options.json:
        emit_json(
            {
                "version": 1,
                "ok": True,
                "lock": str(ctx.lock_path),
                "changed": changed,
                "targets": {n: new.targets[n].to_dict() for n in sorted(new.targets)},
            }
        )
    return 0
