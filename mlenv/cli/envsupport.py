"""Shared by install/run/verify/exec: get an up-to-date lock and materialize a section."""

from __future__ import annotations

from mlenv.envs.artifacts import ArtifactContext
from mlenv.envs.download import FetchOptions
from mlenv.envs.materialize import Environment, materialize
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


def ensure_env(
    ctx: Context, section: LockTarget, *, force: bool = False, allow_drift: bool = False
) -> tuple[Environment, bool]:
    check_runs_here(ctx, section)
    store = Store(ctx.home)
    artifact_ctx = ArtifactContext(
        store=store,
        project_dir=ctx.project_dir,
        builtin_dir=ctx.builtin_dir,
        options=FetchOptions(offline=ctx.options.offline, mirrors=ctx.mirrors()),
        reporter=ctx.reporter,
        environ=ctx.environ,
    )
    return materialize(
        section,
        project_env_dir(ctx.project_dir, section.name),
        python=ctx.python_for(section),
        uv=UvRunner(
            uv=ctx.uv, cache_dir=ctx.uv_cache, environ=ctx.environ, offline=ctx.options.offline
        ),
        ctx=artifact_ctx,
        force=force,
        allow_drift=allow_drift,
    )
