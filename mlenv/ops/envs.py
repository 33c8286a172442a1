"""envs: a project's environments (list with state and disk usage, remove) and the store's
garbage collection.

Every install records its project in the store (`Store.remember_project`); gc keeps what any
of those projects (or, with `only`, just the named ones) still references.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlenv.envs.gc import (
    EnvInfo,
    GcReport,
    References,
    Removed,
    clean_caches,
    collect_garbage,
    disk_usage,
    env_references,
    lock_references,
    project_envs,
    remove_env,
    stale_builds,
)
from mlenv.envs.store import Store
from mlenv.errors import LockError, MlenvError, UsageError
from mlenv.lock import Lock, load_lock

from .project import Project

__all__ = ["EnvList", "EnvState", "GcResult", "Removed", "RemovedEnv", "gc", "list_envs", "remove"]


# -- list -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvState:
    target: str
    path: Path
    lock: str | None  # the lock section digest env.json records; None when it is unreadable
    state: str  # current | stale | not in the lock | no lock | broken (no readable env.json)
    size: int  # bytes of the distinct files under the folder
    exclusive: int  # of those, bytes no other link holds (what removing it frees)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "path": str(self.path),
            "lock": self.lock,
            "state": self.state,
            "size": self.size,
            "exclusive": self.exclusive,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvList:
    project_dir: Path
    envs: tuple[EnvState, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"project": str(self.project_dir), "envs": [e.to_dict() for e in self.envs]}


def _lock_or_none(project: Project) -> Lock | None:
    if not project.lock_path.exists():
        return None
    try:
        return project.lock()
    except MlenvError as e:
        project.reporter.warn(f"cannot read {project.lock_path} ({e.message})")
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


def list_envs(project: Project) -> EnvList:
    """The project's environments, each with the lock it was built from and its state."""
    lock = _lock_or_none(project)
    rows = []
    for env in project_envs(project.project_dir):
        usage = disk_usage(env.path)
        rows.append(
            EnvState(
                target=env.target,
                path=env.path,
                lock=env.lock,
                state=_state(env, lock),
                size=usage.size,
                exclusive=usage.exclusive,
            )
        )
    return EnvList(project_dir=project.project_dir, envs=tuple(rows))


# -- remove -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RemovedEnv:
    target: str
    path: Path
    freed: int  # bytes of disk released

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "path": str(self.path), "freed": self.freed}


def _pick(project: Project, target: str | None, every: bool) -> list[EnvInfo]:
    envs = project_envs(project.project_dir)
    names = ", ".join(e.target for e in envs) or "none"
    if every:
        if target:
            raise UsageError("pass either TARGET or --all, not both")
        return envs
    if target:
        wanted = project.host.name if target == "host" else target
        found = [e for e in envs if e.target == wanted]
        if not found:
            raise UsageError(
                f"no environment {wanted!r} in {project.project_dir}",
                hint=f"environments: {names} (`mlenv env list`)",
            )
        return found
    if not envs:
        raise UsageError(f"no environments in {project.project_dir}", hint="nothing to remove")
    if len(envs) == 1:
        return envs
    lock = _lock_or_none(project)
    if lock is not None:
        try:
            section = project.lock_section(lock, None)
        except MlenvError:
            section = None
        found = [e for e in envs if section is not None and e.target == section.name]
        if found:
            return found
    raise UsageError(
        f"{project.project_dir} has several environments",
        hint=f"name one ({names}) or pass --all",
    )


def remove(
    project: Project, target: str | None = None, *, every: bool = False
) -> tuple[RemovedEnv, ...]:
    """Delete the environment of `target` (default: the one `install` would use; `every`: all
    of the project's)."""
    store = Store(project.home)
    removed = []
    for env in _pick(project, target, every):
        try:
            usage = remove_env(env.path, store)
        except OSError as e:
            raise UsageError(
                f"cannot remove {env.path}: {e.strerror}",
                where=str(e.filename or env.path),
                hint="check the folder's permissions, then run the command again",
            ) from e
        removed.append(RemovedEnv(target=env.target, path=env.path, freed=usage.exclusive))
    return tuple(removed)


# -- gc ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GcResult:
    """What `gc` removed (or, dry, would remove), over every project whose references counted."""

    projects: tuple[Path, ...]
    report: GcReport

    @property
    def dry_run(self) -> bool:
        return self.report.dry_run

    @property
    def removed(self) -> list[Removed]:
        return self.report.removed

    @property
    def freed(self) -> int:
        return self.report.freed

    @property
    def kept(self) -> dict[str, int]:
        return self.report.kept

    def totals(self) -> dict[str, dict[str, int]]:
        return self.report.totals()

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "projects": [str(p) for p in self.projects],
            "removed": self.totals(),
            "freed": self.freed,
            "kept": dict(self.report.kept),
            "items": [
                {"kind": r.kind, "path": str(r.path), "size": r.size, "freed": r.freed}
                for r in self.removed
            ],
        }


_MARKERS = ("mlenv.yaml", "mlenv.lock", ".mlenv/envs")


def _looks_like_project(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in _MARKERS)


def _named_projects(project: Project, given: Sequence[Path]) -> list[Path]:
    """The projects gc was asked to count (default: this one), each checked to be one."""
    out = []
    for name in given or [project.project_dir]:
        path = Path(name).absolute()
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            path = path.parent
        if not path.is_dir():
            raise UsageError(
                f"no project folder at {name}", hint="name folders that hold an mlenv.yaml"
            )
        if path != project.project_dir and not _looks_like_project(path):
            raise UsageError(
                f"{name} is not an mlenv project (no mlenv.yaml, mlenv.lock or .mlenv/)",
                why="gc keeps only what the listed projects reference: a wrong folder would "
                "empty the store",
                hint="name the folders of your projects",
            )
        if path == project.project_dir and not (
            project.manifest_path.exists()
            or project.lock_path.exists()
            or (path / ".mlenv" / "envs").exists()
        ):
            raise UsageError(
                f"{path} is not an mlenv project "
                f"(no {project.manifest_path.name}, lock or .mlenv/)",
                why="gc keeps only what the listed projects reference: run from the wrong "
                "folder, it would empty the store",
                hint="run it in a project folder, or name project folders: mlenv env gc DIR [DIR…]",
            )
        out.append(path)
    return list(dict.fromkeys(out))


def _remembered(project: Project, store: Store, named: list[Path], dry_run: bool) -> list[Path]:
    """The projects the store remembers, besides the named ones; a record whose folder is no
    longer a project is forgotten (the record only: nothing outside the store is touched)."""
    out: list[Path] = []
    for key, path in store.remembered_projects().items():
        if path in named or path in out:
            continue
        if _looks_like_project(path):
            out.append(path)
        elif not dry_run:
            store.forget_project(key)
            project.reporter.info(f"forgetting {path}: no mlenv project there any more")
    return out


def _project_references(project: Project, folder: Path, *, named: bool) -> References:
    refs = References()
    lock_path = project.lock_path if folder == project.project_dir else folder / "mlenv.lock"
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
    for env in project_envs(folder):
        if env.lock is None:
            project.reporter.warn(f"{env.path} has no readable env.json; its files are not kept")
        refs.update(env_references(env.info))
    return refs


def gc(
    project: Project,
    projects: Sequence[Path] = (),
    *,
    only: bool = False,
    dry_run: bool = False,
    caches: bool = False,
) -> GcResult:
    """Delete the store objects, extracted archives and md5 entries that no lock and no
    environment of the counted projects references, with partial downloads and the build
    folders of killed installs (in the named projects only: a remembered path is data).

    Counted: `projects` (default: this one) and, unless `only`, every project the store
    remembers. `dry_run` deletes nothing; `caches` also empties uv's and rattler's caches."""
    named = _named_projects(project, projects)
    store = Store(project.home)
    counted: list[Path] = []

    def references() -> References:  # read while gc holds the store alone
        others = [] if only else _remembered(project, store, named, dry_run)
        refs = References()
        for folder in named:
            refs.update(_project_references(project, folder, named=True))
        for folder in others:
            refs.update(_project_references(project, folder, named=False))
        counted[:] = [*named, *others]
        return refs

    report = collect_garbage(
        store,
        references,
        builds=lambda: [b for p in named for b in stale_builds(p)],
        dry_run=dry_run,
        waiting=lambda: project.reporter.info(
            "waiting for other mlenv processes to leave the store…"
        ),
        caches=(lambda dry: clean_caches(project.home, project.uv, dry)) if caches else None,
    )
    return GcResult(projects=tuple(counted), report=report)
