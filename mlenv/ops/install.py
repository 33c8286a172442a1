"""install: materialize one lock section into `.mlenv/envs/<target>/`, then check its artifacts
against the lock before anything uses them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlenv.envs.activation import activation
from mlenv.envs.artifacts import ArtifactContext, changed_error
from mlenv.envs.detect import Detects, detect_declarations
from mlenv.envs.download import FetchOptions
from mlenv.envs.materialize import Environment, check_env, materialize
from mlenv.envs.store import Store
from mlenv.envs.venv import UvRunner
from mlenv.errors import InstallError
from mlenv.lock import LockTarget
from mlenv.paths import project_env_dir

from .project import Project
from .resolve import current_lock

__all__ = ["Environment", "InstallResult", "activated", "ensure_env", "install"]


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallResult:
    env: Environment
    section: LockTarget
    built: bool  # False: the environment was already current


def check_runs_here(project: Project, section: LockTarget) -> None:
    f, host = section.facts, project.host
    if (f.get("os"), f.get("arch")) != (host.os, host.arch):
        raise InstallError(
            f"target {section.name} ({f.get('os')}-{f.get('arch')}) cannot be installed on this "
            f"machine ({host.os}-{host.arch})",
            hint="install it on a machine of that kind, or pick another target with --target",
        )


def system_detects(project: Project, section: LockTarget) -> Detects:
    """The `detect:` sources of the user's index for the section's system tools (the index is
    loaded only when the lock has some)."""
    if not section.system:
        return {}
    return detect_declarations(project.index, {pin.package for pin in section.system})


def fetch_options(project: Project) -> FetchOptions:
    return FetchOptions(offline=project.offline, mirrors=project.mirrors())


def uv_runner(project: Project) -> UvRunner:
    return UvRunner(
        uv=project.uv,
        cache_dir=project.uv_cache,
        environ=project.environ,
        offline=project.offline,
        log=project.reporter.debug,
    )


def ensure_env(
    project: Project,
    section: LockTarget,
    *,
    force: bool = False,
    allow_drift: bool = False,
    detects: Detects | None = None,
    verify: bool = False,
) -> tuple[Environment, bool]:
    """The environment of `section`, built if needed; whether it was (re)built.

    `detects`: how to re-detect the lock's system tools (default: the `detect:` sources of
    the user's own index, never the lock's). The environment's artifacts are then checked
    against the lock (cheaply by stat; every file hashed with `verify`): a changed file is an
    IntegrityError before anything uses it."""
    check_runs_here(project, section)
    store = Store(project.home)
    try:
        store.remember_project(project.project_dir)  # `mlenv env gc` keeps what it uses
    except OSError as e:
        project.reporter.warn(f"cannot record this project in the store ({e.strerror})")
    artifact_ctx = ArtifactContext(
        store=store,
        project_dir=project.project_dir,
        builtin_dir=project.builtin_dir,
        options=fetch_options(project),
        reporter=project.reporter,
        environ=project.environ,
    )
    env, built = materialize(
        section,
        project_env_dir(project.project_dir, section.name),
        python=project.python_for(section),
        uv=uv_runner(project),
        ctx=artifact_ctx,
        force=force,
        allow_drift=allow_drift,
        detects=system_detects(project, section) if detects is None else detects,
    )
    changes = check_env(env, section, full=verify, store=store)
    if changes:
        raise changed_error(changes)
    return env, built


def install(
    project: Project,
    *,
    target: str | None = None,
    frozen: bool = False,
    locked: bool = False,
    force: bool = False,
    allow_drift: bool = False,
    verify: bool = False,
) -> InstallResult:
    """`mlenv install`: the lock (re-resolved unless frozen/locked), then its section here."""
    lock = current_lock(project, frozen=frozen, locked=locked)
    section = project.lock_section(lock, target)
    env, built = ensure_env(project, section, force=force, allow_drift=allow_drift, verify=verify)
    if not built:
        project.reporter.info(f"environment {section.name} is up to date")
    return InstallResult(env=env, section=section, built=built)


def activated(env: Environment, base: Mapping[str, str]) -> dict[str, str]:
    """The environment variables a command inside `env` gets (`mlenv exec`/`shell`)."""
    return activation(env, base)
