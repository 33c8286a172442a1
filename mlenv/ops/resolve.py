"""resolve: solve the manifest for its targets and write mlenv.lock; staleness: why a lock no
longer matches its inputs."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mlenv.errors import LockError, MlenvError
from mlenv.lock import Lock, write_lock
from mlenv.resolver.lockgen import ResolveOptions, build_lock
from mlenv.resolver.pypi import UvOptions
from mlenv.resolver.reach import LazyTools

from .localfiles import check_local_artifacts
from .locking import project_lock
from .project import Project


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveResult:
    lock: Lock
    changed: bool  # False: the file already held these exact bytes
    solved: tuple[str, ...]  # the lock sections solved by this call (others were kept)


def resolve_options(
    project: Project, *, upgrade: bool = False, upgrade_packages: Sequence[str] = ()
) -> ResolveOptions:
    """What every resolve needs besides the manifest: uv, pins policy, detected tools."""
    # a recipe's `detect:` program runs when the solve first asks for its versions, once
    index, environ = project.index, project.environ

    def detect(name: str) -> Sequence[str]:
        from mlenv.envs.detect import detect_tools  # imported only when a recipe detects

        return detect_tools(index, environ, [name]).get(name, [])

    tools = LazyTools(detect, index.with_source("detect"))
    return ResolveOptions(
        uv=UvOptions(
            uv=project.uv,
            cache_dir=project.uv_cache,
            offline=project.offline,
            pypi=project.manifest.pypi_options,
            environ=project.environ,
            log=project.reporter.debug,
        ),
        upgrade=upgrade,
        upgrade_packages=frozenset(upgrade_packages),
        tools=tools,
        project_dir=project.project_dir,
        conda_cache=project.home / "cache" / "rattler" / "repodata",
    )


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cycle collector paused for one resolve: a solve allocates many objects and leaves
    few cycles, while each full collection walks every object of the loaded index (about a
    fifth of a warm 2,000-recipe resolve). Collection resumes when the resolve ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def previous_lock(project: Project) -> Lock | None:
    if not project.lock_path.exists():
        return None
    try:
        return project.lock()
    except MlenvError as e:
        project.reporter.warn(
            f"ignoring the unreadable existing lock ({e.message}); resolving afresh"
        )
        return None


def staleness(project: Project, lock: Lock | None, targets: Sequence[str]) -> list[str]:
    """Why the lock no longer matches its inputs (empty: up to date)."""
    if lock is None:
        return [f"no lock file at {project.lock_path}"]
    reasons = []
    if lock.manifest != project.manifest.digest():
        reasons.append(f"{project.manifest_path.name} changed since the lock was written")
    for name in targets:
        section_name = project.target(name).name
        if section_name not in lock.targets:
            reasons.append(f"target {section_name} is not in the lock")
    for section in lock.targets.values():
        for pname, package in sorted(section.packages.items()):
            located = project.index.get(pname)
            if located is None:
                reasons.append(f"recipe {pname} is gone from the index")
            elif f"sha256:{located.recipe.sha256}" != package.recipe:
                reasons.append(f"recipe {pname} changed ({located.label})")
    return sorted(set(reasons))


def stale_error(project: Project, reasons: list[str], hint: str) -> LockError:
    """The lock is out of date, for each of `reasons` (`staleness`)."""
    return LockError(
        f"{project.lock_path.name} is out of date",
        where=str(project.lock_path),
        why="; ".join(reasons),
        hint=hint,
        details={"stale": reasons},
    )


def check(project: Project, targets: Sequence[str] | None = None) -> None:
    """`resolve --check`: a LockError when the lock is stale; reads only (no project lock)."""
    names = list(dict.fromkeys(targets or project.manifest.targets))
    lock = previous_lock(project)
    reasons = staleness(project, lock, names)
    if reasons:
        raise stale_error(project, reasons, "run `mlenv resolve` to update it")
    if lock is not None:  # files beside recipes that changed under their sha256
        check_local_artifacts(project, lock.targets.values())


def resolve(
    project: Project,
    *,
    targets: Sequence[str] | None = None,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
) -> ResolveResult:
    """Read the old lock, solve, write — under the project lock, so concurrent resolves of one
    project serialize and none loses another's target. `targets` (default: the manifest's)
    are solved; other sections of the manifest's targets are kept as they are."""
    with paused_gc():
        return _resolve(project, targets, upgrade=upgrade, upgrade_packages=upgrade_packages)


def _resolve(
    project: Project,
    targets: Sequence[str] | None,
    *,
    upgrade: bool,
    upgrade_packages: Sequence[str],
) -> ResolveResult:
    manifest = project.manifest
    names = list(dict.fromkeys(targets or manifest.targets))
    for warning in project.index.ignored:
        project.reporter.warn(warning)
    with project_lock(project.project_dir, waiting=project.reporter.info):
        lock = previous_lock(project)
        solving = project.targets(names)
        keep = {}
        if lock is not None and targets:
            wanted = {project.target(n).name for n in manifest.targets}
            keep = {n: s for n, s in lock.targets.items() if n in wanted}
        options = resolve_options(project, upgrade=upgrade, upgrade_packages=upgrade_packages)
        for t in solving:
            project.reporter.info(f"resolving for target {t.name}")
        new = build_lock(project.index, manifest, solving, options, previous=lock, keep=keep)
        check_local_artifacts(project, new.targets.values())
        changed = write_lock(project.lock_path, new)
    verb = "wrote" if changed else "unchanged:"
    project.reporter.info(f"{verb} {project.lock_path} ({', '.join(sorted(new.targets))})")
    return ResolveResult(lock=new, changed=changed, solved=tuple(t.name for t in solving))


def current_lock(project: Project, *, frozen: bool = False, locked: bool = False) -> Lock:
    """The lock to install from: as it is (`frozen`); re-resolved first when it is missing or
    stale, unless `locked`, which makes a lock that would change an error (as uv's --locked)."""
    if frozen:
        if not project.lock_path.exists():
            raise LockError(
                f"--frozen needs a lock file, and there is none at {project.lock_path}",
                hint="run `mlenv resolve` first (or drop --frozen)",
            )
        return project.lock()
    lock = previous_lock(project)
    reasons = staleness(project, lock, list(project.manifest.targets))
    if not reasons and lock is not None:
        return lock
    if locked:
        raise LockError(
            f"--locked: {project.lock_path.name} would change",
            where=str(project.lock_path),
            why="; ".join(reasons),
            hint="run `mlenv resolve` and commit the new lock (or drop --locked)",
            details={"stale": reasons},
        )
    project.reporter.info("resolving: " + "; ".join(reasons))
    return resolve(project).lock
