"""What every command shares: global options, paths, the manifest, index, lock and host."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rich.console import Console

from mlenv.ops.project import Project, find_manifest

from .output import ConsoleReporter


@dataclass(kw_only=True)
class Options:
    manifest: Path | None = None
    lock: Path | None = None
    json: bool = False
    offline: bool = False
    debug: bool = False
    verbosity: int = 0  # -1 with -q, 1+ with -v


@dataclass(kw_only=True)
class Context:
    """The command line's view: global options and the console, over the `Project` the ops
    take (`ctx.project`). Attributes of the project are reachable on the context too."""

    options: Options
    console: Console
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @cached_property
    def reporter(self) -> ConsoleReporter:
        return ConsoleReporter(self.console, self.options.verbosity)

    @cached_property
    def project(self) -> Project:
        manifest = self.options.manifest
        return Project(
            manifest_path=manifest.absolute() if manifest else find_manifest(Path.cwd()),
            lock_file=self.options.lock.absolute() if self.options.lock else None,
            environ=self.environ,
            reporter=self.reporter,
            offline=self.options.offline,
        )

    def __getattr__(self, name: str) -> Any:
        # only reached for names the context lacks: the project's paths, manifest, index, …
        if name.startswith("__") or name in ("project", "options", "console", "environ"):
            raise AttributeError(name)
        return getattr(self.project, name)
