"""The `Project` value every workflow takes: paths, manifest, recipe index, home, host, the
environment variables (a snapshot taken once, at the edge) and a reporter.

Nothing here renders or parses arguments; `mlenv.Project` is the public Python API
(CONTRACTS §10): `Project.open(...)`, then `.resolve()`, `.install()`, `.run()`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlenv.errors import LockError, MlenvError, UsageError
from mlenv.host import detect_host, distinct_host
from mlenv.lock import Lock, LockTarget, load_lock, loads_lock
from mlenv.names import check_component, component_problem, within
from mlenv.paths import builtin_recipes_dir, mlenv_home, project_env_dir
from mlenv.reporter import NullReporter, Reporter
from mlenv.target import Target, load_target

if TYPE_CHECKING:  # imported where used: `install --frozen` needs neither
    from mlenv.envs.materialize import Environment
    from mlenv.index import RecipeIndex
    from mlenv.manifest import Manifest

MANIFEST_NAME = "mlenv.yaml"


def find_manifest(start: Path) -> Path:
    """`start/mlenv.yaml`, else the nearest parent folder's (as uv and pixi find theirs); a
    manifest path is taken as it is. Where none exists, `start/mlenv.yaml` (commands that need
    one then say so)."""
    start = start.expanduser().absolute()
    if start.is_file() or (start.suffix in (".yaml", ".yml") and not start.is_dir()):
        return start
    for folder in (start, *start.parents):
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    return start / MANIFEST_NAME


@dataclass(kw_only=True)
class Project:
    """One project: a manifest (which may not exist yet), its lock and the machine it runs on."""

    manifest_path: Path
    lock_file: Path | None = None  # default: mlenv.lock beside the manifest
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    reporter: Reporter = field(default_factory=NullReporter)
    offline: bool = False
    # where the environments live, one folder per target (default `<project>/.mlenv/envs`);
    # `mlenv explore` points every point of one lock section at one shared folder
    env_root: Path | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        lock: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        reporter: Reporter | None = None,
        offline: bool = False,
    ) -> Project:
        """A folder (the manifest is found there or in a parent folder) or a manifest path."""
        manifest = find_manifest(Path(path) if path is not None else Path.cwd())
        return cls(
            manifest_path=manifest,
            lock_file=Path(lock).expanduser().absolute() if lock is not None else None,
            environ=dict(os.environ if environ is None else environ),
            reporter=reporter or NullReporter(),
            offline=offline,
        )

    # -- paths ------------------------------------------------------------------------------

    @property
    def project_dir(self) -> Path:
        return self.manifest_path.parent

    @property
    def lock_path(self) -> Path:
        return (self.lock_file or self.project_dir / "mlenv.lock").absolute()

    def env_dir(self, target: str) -> Path:
        """The environment folder of lock section `target` (one safe name, kept inside)."""
        if self.env_root is None:
            return project_env_dir(self.project_dir, target)
        check_component(target, "target")
        return within(self.env_root, target, what="environment folder")

    @cached_property
    def home(self) -> Path:
        return mlenv_home(self.environ)

    @property
    def builtin_dir(self) -> Path:
        return builtin_recipes_dir()

    @cached_property
    def uv(self) -> str:
        from uv import find_uv_bin

        return str(find_uv_bin())

    @property
    def uv_cache(self) -> Path:
        return self.home / "cache" / "uv"

    # -- inputs -----------------------------------------------------------------------------

    @cached_property
    def manifest(self) -> Manifest:
        if not self.manifest_path.exists():
            raise UsageError(
                f"no manifest at {self.manifest_path} (nor in a parent folder)",
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
        """This machine: named after its facts (`linux-x86_64-cpu`), with `-host` added where
        the built-in target file of that name carries other facts (`distinct_host`)."""
        host = detect_host(self.environ)
        builtin = self.builtin_dir / "targets" / f"{host.name}.yaml"
        same = (
            load_target(builtin, f"builtin:targets/{builtin.name}") if builtin.is_file() else None
        )
        if same is None or same.name != host.name or same.facts() == host.facts():
            return host
        return distinct_host(host, same, self._locked_facts(host.name))

    def _locked_facts(self, section: str) -> dict[str, Any] | None:
        """The facts of lock section `section` in the existing lock, if it has one (parsed only
        where its text names the section; an unreadable lock has none)."""
        try:
            text = self.lock_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if f"\n  {section}:" not in text:
            return None
        try:
            lock = loads_lock(text, str(self.lock_path), cache_dir=self._lock_cache)
        except MlenvError:
            return None
        found = lock.targets.get(section)
        return dict(found.facts) if found is not None else None

    def mirrors(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.manifest_path.exists():
            out.update(dict(self.manifest.mirrors))
        for item in filter(None, self.environ.get("MLENV_MIRROR", "").split(";")):
            prefix, sep, replacement = item.partition("=")
            if sep:
                out[prefix] = replacement
        return out

    @property
    def _lock_cache(self) -> Path:
        """Where checked locks are kept by their sha256 (`mlenv.lock.loads_lock`)."""
        return self.home / "cache" / "lock"

    def lock(self) -> Lock:
        lock = load_lock(self.lock_path, cache_dir=self._lock_cache)
        for warning in lock.warnings:
            self.reporter.warn(warning)
        return lock

    # -- targets ----------------------------------------------------------------------------

    def target(self, name: str) -> Target:
        """A target by name: `host`, a target file of the index, or the host's own name.

        A target file wins over the host's name: `linux-x86_64-cpu` in a manifest means the
        file's facts (glibc 2.28, x86_64_v2, …), not this machine's; the host then locks as
        `linux-x86_64-cpu-host` (unless its facts are the file's)."""
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
            return self._named_section(lock, name)
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

    def _named_section(self, lock: Lock, name: str) -> LockTarget:
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

    def python_for(self, section: LockTarget) -> str:
        wanted = str(section.facts.get("python", ""))
        if wanted == f"{sys.version_info[0]}.{sys.version_info[1]}":
            return sys.executable
        return wanted

    # -- the public API (CONTRACTS §10): each delegates to its op ----------------------------

    def resolve(
        self,
        targets: Sequence[str] | None = None,
        upgrade: bool = False,
        upgrade_packages: Sequence[str] = (),
    ) -> Lock:
        """Solve the manifest for `targets` (default: its own) and write mlenv.lock."""
        from .resolve import resolve

        return resolve(
            self, targets=targets, upgrade=upgrade, upgrade_packages=upgrade_packages
        ).lock

    def install(
        self, target: str | None = None, frozen: bool = False, force: bool = False
    ) -> Environment:
        """Materialize the lock section for `target` (default: this machine's)."""
        from .install import install

        return install(self, target=target, frozen=frozen, force=force).env

    def run(
        self,
        scenarios: Sequence[str] | None = None,
        modes: Sequence[str] | None = None,
        settings: Mapping[str, Any] | None = None,
        target: str | None = None,
        frozen: bool = False,
        profile: str | None = None,
        samples: int | None = None,
        repeat: int = 1,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Measure the manifest's benchmark; the result.json documents (CONTRACTS §8, §11).
        `profile`: quick | submission (default: the manifest's, else quick); `samples`: run on
        the dataset's first N; `repeat`: each performance measurement N times."""
        from .run import RunRequest, run

        request = RunRequest(
            scenarios=tuple(scenarios or ()),
            modes=tuple(modes or ()),
            settings=dict(settings or {}),
            target=target,
            frozen=frozen,
            profile=profile,
            samples=samples,
            repeat=repeat,
            **options,
        )
        return run(self, request).results
