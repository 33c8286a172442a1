"""install: materialize one lock section into `.mlenv/envs/<target>/`, then check its artifacts
against the lock before anything uses them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlenv.envs.activation import activation
from mlenv.envs.artifacts import ArtifactContext, changed_error
from mlenv.envs.detect import Detects, detect_declarations
from mlenv.envs.download import FetchOptions
from mlenv.envs.materialize import Environment, check_env, materialize
from mlenv.envs.store import Store
from mlenv.envs.venv import UvRunner
from mlenv.errors import InstallError, MlenvError
from mlenv.lock import ArtifactPin, LockTarget
from mlenv.sources import LocalSource

from .localfiles import check_local_artifacts
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


def local_contents(project: Project, pin: ArtifactPin) -> str | None:
    """What the folder of a `local:` source must hold: its recipe's `contents:` sentence (the
    recipe found in the project's index by the pin's package), or None."""
    try:
        located = project.index.get(pin.package)
    except MlenvError:  # an index that does not load: the hint goes without the sentence
        return None
    if located is None:
        return None
    for entry in located.recipe.install:
        source = entry.source
        if isinstance(source, LocalSource) and source.env == pin.local_env and source.contents:
            return source.contents
    return None


def check_local_data(project: Project, section: LockTarget) -> None:
    """Every folder of data the user supplies (`local:` sources) is there before any work; if
    not, the diagnostic says which variable to set and what the folder must hold."""
    for pin in section.artifacts:
        if not pin.local_env:
            continue
        value = project.environ.get(pin.local_env)
        if value and Path(value).is_dir():
            continue
        contents = local_contents(project, pin)
        export = f"export {pin.local_env}=/path/to/the/data and run the command again"
        raise InstallError(
            f"{pin.package} needs data you supply: set {pin.local_env} to its folder",
            where=f"artifact {pin.name} of {pin.package}",
            why=f"{pin.local_env} is {'unset' if not value else f'not a folder: {value}'}",
            hint=f"the folder must hold {contents}; {export}" if contents else export,
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
    check_local_data(project, section)
    check_local_artifacts(project, [section])  # a file beside a recipe overwritten since
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
        project.env_dir(section.name),
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
