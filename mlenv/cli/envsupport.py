"""Shared by install/run/verify/exec: get an up-to-date lock and materialize a section."""

from __future__ import annotations

from mlenv.envs.artifacts import ArtifactContext, changed_error
from mlenv.envs.detect import Detects, detect_declarations
from mlenv.envs.download import FetchOptions
from mlenv.envs.materialize import Environment, check_env, materialize
from mlenv.envs.store import Store
from mlenv.envs.venv import UvRunner
from mlenv.errors import InstallError, LockError
from mlenv.lock import Lock, LockTarget, write_lock
from mlenv.paths import project_env_dir

from .context import Context


def current_lock(ctx: Context, *, frozen: bool) -> Lock:
    """The lock as it is (`--frozen`), or re-resolved first when it is missing or stale."""
    if frozen:
        if not ctx.lock_path.exists():
            raise LockError(
                f"--frozen needs a lock file, and there is none at {ctx.lock_path}",
                hint="run `mlenv resolve` first (or drop --frozen)",
            )
        return ctx.lock()
    from mlenv.resolver.lockgen import build_lock  # the resolver only when not --frozen

    from .commands.resolve import previous_lock, resolve_options, staleness

    lock = previous_lock(ctx)
    reasons = staleness(ctx, lock, list(ctx.manifest.targets))
    if not reasons and lock is not None:
        return lock
    ctx.reporter.info("resolving: " + "; ".join(reasons))
    options = resolve_options(ctx)
    targets = ctx.targets(ctx.manifest.targets)
    new = build_lock(ctx.index, ctx.manifest, targets, options, previous=lock)
    write_lock(ctx.lock_path, new)
    return new


def check_runs_here(ctx: Context, section: LockTarget) -> None:
    f, host = section.facts, ctx.host
    if (f.get("os"), f.get("arch")) != (host.os, host.arch):
        raise InstallError(
            f"target {section.name} ({f.get('os')}-{f.get('arch')}) cannot be installed on this "
            f"machine ({host.os}-{host.arch})",
            hint="install it on a machine of that kind, or pick another target with --target",
        )


def system_detects(ctx: Context, section: LockTarget) -> Detects:
    """The `detect:` sources of the user's index for the section's system tools (the index is
    loaded only when the lock has some)."""
    if not section.system:
        return {}
    return detect_declarations(ctx.index, {pin.package for pin in section.system})


def ensure_env(
    ctx: Context,
    section: LockTarget,
    *,
    force: bool = False,
    allow_drift: bool = False,
    detects: Detects | None = None,
    verify: bool = False,
) -> tuple[Environment, bool]:
    """`detects`: how to re-detect the lock's system tools (default: the `detect:` sources of
    the user's own index, never the lock's). The environment's artifacts are then checked
    against the lock (cheaply by stat; every file hashed with `verify`): a changed file is an
    IntegrityError before anything uses it."""
    check_runs_here(ctx, section)
    store = Store(ctx.home)
    try:
        store.remember_project(ctx.project_dir)  # `mlenv env gc` keeps what this project uses
    except OSError as e:
        ctx.reporter.warn(f"cannot record this project in the store ({e.strerror})")
    if detects is None:
        detects = system_detects(ctx, section)
    artifact_ctx = ArtifactContext(
        store=store,
        project_dir=ctx.project_dir,
        builtin_dir=ctx.builtin_dir,
        options=FetchOptions(offline=ctx.options.offline, mirrors=ctx.mirrors()),
        reporter=ctx.reporter,
        environ=ctx.environ,
    )
    env, built = materialize(
        section,
        project_env_dir(ctx.project_dir, section.name),
        python=ctx.python_for(section),
        uv=UvRunner(
            uv=ctx.uv, cache_dir=ctx.uv_cache, environ=ctx.environ, offline=ctx.options.offline
        ),
        ctx=artifact_ctx,
        force=force,
        allow_drift=allow_drift,
        detects=detects,
    )
    changes = check_env(env, section, full=verify, store=store)
    if changes:
        raise changed_error(changes)
    return env, built
