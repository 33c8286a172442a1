"""`mlenv env list | remove [TARGET] | gc [PROJECT_DIR…] [--only]`: environments and the store.

The store logic lives in `mlenv.envs.gc`, imported when an action runs (this module is imported
by every mlenv command line, so it stays light). Every install records its project in the store
(`Store.remember_project`); gc keeps what any of those projects still uses.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlenv.errors import LockError, MlenvError, UsageError

from ..context import Context
from ..output import emit_json, size_text

if TYPE_CHECKING:
    from mlenv.envs.gc import EnvInfo, GcReport, References
    from mlenv.envs.store import Store
    from mlenv.lock import Lock

COMMANDS = ("env",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list, remove and garbage-collect environments")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the project's environments: lock digest, state, size")
    rm = actions.add_parser("remove", help="delete an environment of the project")
    rm.add_argument(
        "target", nargs="?", metavar="TARGET", help="default: the one `install` would use"
    )
    rm.add_argument("--all", action="store_true", help="every environment of the project")
    gc = actions.add_parser(
        "gc",
        help="delete store objects that no environment or lock of the projects references",
        description="Delete what no lock and no environment of this project, the named "
        "projects and every other project that installed from this store (the store remembers "
        "them; those whose folder is gone are forgotten) references. With --only, just this "
        "project or the named ones count: objects other projects use may be deleted.",
    )
    gc.add_argument(
        "projects",
        nargs="*",
        metavar="PROJECT_DIR",
        type=Path,
        help="more projects whose locks and environments keep their objects (default: this "
        "one, plus every project the store remembers)",
    )
    gc.add_argument(
        "--only",
        action="store_true",
        help="keep only what the named projects (default: this one) reference, not what the "
        "other projects remembered in the store use",
    )
    gc.add_argument("--dry-run", action="store_true", help="print what would go; delete nothing")
    gc.add_argument(
        "--caches",
        action="store_true",
        help="also empty uv's and rattler's caches under MLENV_HOME/cache (installs refill them)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.action == "list":
        return _list(ctx)
    if args.action == "remove":
        return _remove(args, ctx)
    return _gc(args, ctx)


def _lock_or_none(ctx: Context) -> Lock | None:
    if not ctx.lock_path.exists():
        return None
    try:
        return ctx.lock()
    except MlenvError as e:
        ctx.reporter.warn(f"cannot read {ctx.lock_path} ({e.message})")
        return None


def _state(env: EnvInfo, lock: Lock | None) -> str:
    if env.lock is None:
        return "broken (no readable env.json)"
    if lock is None:
        return "no lock"
    section = lock.targets.get(env.target)
    if section is None:
        return "not in the lock"
    return "current" if section.digest() == env.lock else "stale"


# -- list -----------------------------------------------------------------------------------------


def _list(ctx: Context) -> int:
    from mlenv.envs.gc import disk_usage, project_envs

    lock = _lock_or_none(ctx)
    rows: list[dict[str, Any]] = []
    for env in project_envs(ctx.project_dir):
        usage = disk_usage(env.path)
        rows.append(
            {
                "target": env.target,
                "path": str(env.path),
                "lock": env.lock,
                "state": _state(env, lock),
                "size": usage.size,
                "exclusive": usage.exclusive,
            }
        )
    if ctx.options.json:
        emit_json({"version": 1, "ok": True, "project": str(ctx.project_dir), "envs": rows})
        return 0
    if not rows:
        ctx.reporter.info(f"no environments in {ctx.project_dir} (run `mlenv install`)")
        return 0
    from rich.table import Table

    table = Table(title=f"environments of {ctx.project_dir}", title_justify="left")
    for column in ("target", "built from lock", "state", "size", "not shared"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        colour = "green" if r["state"] == "current" else "yellow"
        table.add_row(
            r["target"],
            (r["lock"] or "-").removeprefix("sha256:")[:16],
            f"[{colour}]{r['state']}[/{colour}]",
            size_text(r["size"]),
            size_text(r["exclusive"]),
        )
    ctx.console.print(table)
    return 0


# -- remove ---------------------------------------------------------------------------------------


def _pick(args: argparse.Namespace, ctx: Context, envs: list[EnvInfo]) -> list[EnvInfo]:
    names = ", ".join(e.target for e in envs) or "none"
    if args.all:
        if args.target:
            raise UsageError("pass either TARGET or --all, not both")
        return envs
    if args.target:
        wanted = ctx.host.name if args.target == "host" else args.target
        found = [e for e in envs if e.target == wanted]
        if not found:
            raise UsageError(
                f"no environment {wanted!r} in {ctx.project_dir}",
                hint=f"environments: {names} (`mlenv env list`)",
            )
        return found
    if not envs:
        raise UsageError(f"no environments in {ctx.project_dir}", hint="nothing to remove")
    if len(envs) == 1:
        return envs
    lock = _lock_or_none(ctx)
    if lock is not None:
        try:
            section = ctx.lock_section(lock, None)
        except MlenvError:
            section = None
        found = [e for e in envs if section is not None and e.target == section.name]
        if found:
            return found
    raise UsageError(
        f"{ctx.project_dir} has several environments", hint=f"name one ({names}) or pass --all"
    )


def _remove(args: argparse.Namespace, ctx: Context) -> int:
    from mlenv.envs.gc import project_envs, remove_env
    from mlenv.envs.store import Store

    store = Store(ctx.home)
    removed = []
    for env in _pick(args, ctx, project_envs(ctx.project_dir)):
        try:
            usage = remove_env(env.path, store)
        except OSError as e:
            raise UsageError(
                f"cannot remove {env.path}: {e.strerror}",
                where=str(e.filename or env.path),
                hint="check the folder's permissions, then run the command again",
            ) from e
        ctx.reporter.info(f"removed {env.path} (freed {size_text(usage.exclusive)})")
        removed.append({"target": env.target, "path": str(env.path), "freed": usage.exclusive})
    if ctx.options.json:
        emit_json({"version": 1, "ok": True, "removed": removed})
    return 0


# -- gc -------------------------------------------------------------------------------------------


def _projects(args: argparse.Namespace, ctx: Context) -> list[Path]:
    out = []
    for given in args.projects or [ctx.project_dir]:
        path = given.absolute()
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            path = path.parent
        if not path.is_dir():
            raise UsageError(
                f"no project folder at {given}", hint="name folders that hold an mlenv.yaml"
            )
        markers = (path / "mlenv.yaml", path / "mlenv.lock", path / ".mlenv" / "envs")
        if path != ctx.project_dir and not any(m.exists() for m in markers):
            raise UsageError(
                f"{given} is not an mlenv project (no mlenv.yaml, mlenv.lock or .mlenv/)",
                why="gc keeps only what the listed projects reference: a wrong folder would "
                "empty the store",
                hint="name the folders of your projects",
            )
        if path == ctx.project_dir and not (
            ctx.manifest_path.exists() or ctx.lock_path.exists() or markers[2].exists()
        ):
            raise UsageError(
                f"{path} is not an mlenv project (no {ctx.manifest_path.name}, lock or .mlenv/)",
                why="gc keeps only what the listed projects reference: run from the wrong "
                "folder, it would empty the store",
                hint="run it in a project folder, or name project folders: mlenv env gc DIR [DIR…]",
            )
        out.append(path)
    return list(dict.fromkeys(out))


def _looks_like_project(path: Path) -> bool:
    markers = (path / "mlenv.yaml", path / "mlenv.lock", path / ".mlenv" / "envs")
    return path.is_dir() and any(m.exists() for m in markers)


def _remembered(ctx: Context, store: Store, named: list[Path], dry_run: bool) -> list[Path]:
    """The projects the store remembers, besides the named ones; a record whose folder is no
    longer a project is forgotten (the record only: nothing outside the store is touched)."""
    out = []
    for key, path in store.remembered_projects().items():
        if path in named or path in out:
            continue
        if _looks_like_project(path):
            out.append(path)
        elif not dry_run:
            store.forget_project(key)
            ctx.reporter.info(f"forgetting {path}: no mlenv project there any more")
    return out


def _project_references(ctx: Context, project: Path, *, named: bool) -> References:
    from mlenv.envs.gc import References, env_references, lock_references, project_envs
    from mlenv.lock import load_lock

    refs = References()
    lock_path = ctx.lock_path if project == ctx.project_dir else project / "mlenv.lock"
    if lock_path.exists():
        try:
            refs.update(lock_references(load_lock(lock_path)))
        except MlenvError as e:
            raise LockError(
                f"cannot read {lock_path}, so gc cannot tell what it needs",
                where=str(lock_path),
                why=e.message,
                hint="fix the lock with `mlenv resolve`, or leave that project out"
                + ("" if named else " (`mlenv env gc --only` counts only the named projects)"),
            ) from e
    for env in project_envs(project):
        if env.lock is None:
            ctx.reporter.warn(f"{env.path} has no readable env.json; its files are not kept")
        refs.update(env_references(env.info))
    return refs


def _references(
    ctx: Context, store: Store, named: list[Path], *, only: bool, dry_run: bool, seen: list[Path]
) -> References:
    """What the named projects and (unless `only`) the remembered ones reference; read while gc
    holds the store alone, so a project that installs meanwhile is remembered by then.
    `seen` receives every project counted."""
    from mlenv.envs.gc import References

    refs = References()
    others = [] if only else _remembered(ctx, store, named, dry_run)
    for project in named:
        refs.update(_project_references(ctx, project, named=True))
    for project in others:
        refs.update(_project_references(ctx, project, named=False))
    seen[:] = [*named, *others]
    return refs


def _gc(args: argparse.Namespace, ctx: Context) -> int:
    from mlenv.envs.gc import clean_caches, collect_garbage, stale_builds
    from mlenv.envs.store import Store

    named = _projects(args, ctx)
    store = Store(ctx.home)
    projects: list[Path] = []
    report = collect_garbage(
        store,
        lambda: _references(ctx, store, named, only=args.only, dry_run=args.dry_run, seen=projects),
        # build folders are swept only in the named projects: a remembered path is data
        builds=lambda: [b for p in named for b in stale_builds(p)],
        dry_run=args.dry_run,
        waiting=lambda: ctx.reporter.info("waiting for other mlenv processes to leave the store…"),
        caches=(lambda dry: clean_caches(ctx.home, ctx.uv, dry)) if args.caches else None,
    )
    if ctx.options.json:
        emit_json(_gc_document(report, projects))
    else:
        _print_gc(ctx, report, projects)
    return 0


def _gc_document(report: GcReport, projects: list[Path]) -> dict[str, Any]:
    return {
        "version": 1,
        "ok": True,
        "dry_run": report.dry_run,
        "projects": [str(p) for p in projects],
        "removed": report.totals(),
        "freed": report.freed,
        "kept": report.kept,
        "items": [
            {"kind": r.kind, "path": str(r.path), "size": r.size, "freed": r.freed}
            for r in report.removed
        ],
    }


KIND_NAMES = {
    "object": "store objects",
    "link": "wheel links of those objects",
    "tree": "extracted archives (trees and listings)",
    "md5": "md5 index entries",
    "partial": "partial downloads and temporary files",
    "build": "build folders of killed installs",
    "cache": "caches (uv, rattler)",
}


def _print_gc(ctx: Context, report: GcReport, projects: list[Path]) -> None:
    verb = "would remove" if report.dry_run else "removed"
    if report.dry_run:
        for r in report.removed:
            ctx.console.print(f"  {r.kind:8} {r.path}  ({size_text(r.size)})", highlight=False)
    totals = report.totals()
    for kind, name in KIND_NAMES.items():
        if kind in totals:
            t = totals[kind]
            ctx.reporter.info(f"{verb} {t['count']} {name} ({size_text(t['size'])})")
    kept = report.kept
    ctx.reporter.info(
        f"kept {kept.get('objects', 0)} objects and {kept.get('trees', 0)} extracted archives "
        f"referenced by {len(projects)} project(s)"
    )
    freed = "would free" if report.dry_run else "freed"
    ctx.reporter.info(
        f"{freed} {size_text(report.freed)} of disk"
        + (" (files still linked from environments stay until those go)" if totals else "")
    )
