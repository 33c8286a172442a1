"""What every command shares: global options, paths, the manifest, index, lock and host."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from mlenv.errors import LockError, UsageError
from mlenv.host import detect_host
from mlenv.lock import Lock, LockTarget, load_lock
from mlenv.names import component_problem
from mlenv.paths import builtin_recipes_dir, mlenv_home
from mlenv.target import Target

from .output import ConsoleReporter

if TYPE_CHECKING:  # imported where used: `install --frozen` needs neither
    from mlenv.index import RecipeIndex
    from mlenv.manifest import Manifest


@dataclass(kw_only=True)
class Options:
    manifest: Path | None = None
    lock: Path | None = None
    json: bool = False
    offline: bool = False
    debug: bool = False


@dataclass(kw_only=True)
class Context:
    options: Options
    console: Console
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @cached_property
    def reporter(self) -> ConsoleReporter:
        return ConsoleReporter(self.console)

    @property
    def manifest_path(self) -> Path:
        return (self.options.manifest or Path("mlenv.yaml")).absolute()

    @property
    def project_dir(self) -> Path:
        return self.manifest_path.parent

    @property
    def lock_path(self) -> Path:
        return (self.options.lock or self.project_dir / "mlenv.lock").absolute()

    @cached_property
    def manifest(self) -> Manifest:
        if not self.manifest_path.exists():
            raise UsageError(
                f"no manifest at {self.manifest_path}",
                hint="run `mlenv init` to write one, or pass --manifest PATH",
            )
        from mlenv.manifest import load_manifest

        return load_manifest(self.manifest_path)

    @cached_property
    def index(self) -> RecipeIndex:
        from mlenv.index import index_roots, load_index

        manifest = self.manifest if self.manifest_path.exists() else None
        extra = manifest.recipes if manifest else ()
        return load_index(
            index_roots(self.project_dir, extra), cache_dir=self.home / "cache" / "index"
        )

    @cached_property
    def host(self) -> Target:
        return detect_host(self.environ)

    @cached_property
    def home(self) -> Path:
        return mlenv_home(self.environ)

    @cached_property
    def uv(self) -> str:
        from uv import find_uv_bin

        return str(find_uv_bin())

    @property
    def uv_cache(self) -> Path:
        return self.home / "cache" / "uv"

    @property
    def builtin_dir(self) -> Path:
        return builtin_recipes_dir()

    def mirrors(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.manifest_path.exists():
            out.update(dict(self.manifest.mirrors))
        for item in filter(None, self.environ.get("MLENV_MIRROR", "").split(";")):
            prefix, sep, replacement = item.partition("=")
            if sep:
                out[prefix] = replacement
        return out

    def lock(self) -> Lock:
        lock = load_lock(self.lock_path)
        for warning in lock.warnings:
            self.reporter.warn(warning)
        return lock

    def target(self, name: str) -> Target:
        """A target by name: `host`, a target file of the index, or the host's own name.

        A target file wins over the host's name: `linux-x86_64-cpu` in a manifest means the
        file's facts (glibc 2.28, x86_64_v2, …), not this machine's."""
        if name == "host":
            return self.host
        found = self.index.targets.get(name)
        if found is not None:
            return found[0]
        if name == self.host.name:
            return self.host
        known = ", ".join(["host", *sorted(self.index.targets)])
        raise UsageError(f"unknown target {name!r}", hint=f"known targets: {known}")

    def targets(self, names: Sequence[str]) -> list[Target]:
        """Several targets; two that would share one lock section are an error."""
        out: dict[str, tuple[str, Target]] = {}
        for name in names:
            target = self.target(name)
            if target.name in out and out[target.name][0] != name:
                raise UsageError(
                    f"targets {out[target.name][0]!r} and {name!r} both lock as {target.name!r}",
                    where=f"{self.manifest_path.name}: targets",
                    hint=f"list one of them (`host` is this machine, named {self.host.name})",
                )
            out.setdefault(target.name, (name, target))
        return [t for _, t in out.values()]

    def lock_section(self, lock: Lock, name: str | None) -> LockTarget:
        """The section for --target, or the one matching this machine."""
        if name is not None:
            wanted = self.host.name if name == "host" else name
            if problem := component_problem(wanted):
                raise UsageError(
                    f"invalid target name {name!r}",
                    where="--target",
                    why=problem,
                    hint=f"locked targets: {', '.join(sorted(lock.targets))}",
                )
            if wanted not in lock.targets:
                raise LockError(
                    f"the lock has no target {wanted!r}",
                    where=str(self.lock_path),
                    hint=f"locked targets: {', '.join(sorted(lock.targets))}; "
                    f"run `mlenv resolve --target {name}` to add it",
                )
            return lock.targets[wanted]
        host = self.host
        if host.name in lock.targets:
            return lock.targets[host.name]
        for section in lock.targets.values():
            f = section.facts
            if (f.get("os"), f.get("arch"), f.get("accelerator")) == (
                host.os,
                host.arch,
                host.accelerator.kind,
            ) and f.get("python") == host.python:
                return section
        raise LockError(
            f"no target in the lock matches this machine ({host.name}, python {host.python})",
            where=str(self.lock_path),
            hint=f"locked targets: {', '.join(sorted(lock.targets))}; run `mlenv resolve` "
            "with `host` among the manifest's targets, or pass --target",
        )

    def python_for(self, section: LockTarget) -> str:
        wanted = str(section.facts.get("python", ""))
        if wanted == f"{sys.version_info[0]}.{sys.version_info[1]}":
            return sys.executable
        return wanted
