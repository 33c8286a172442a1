"""What every command shares: the global options, the console and reporter, and the `Project`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from rich.console import Console

from mlenv.ops.project import MANIFEST_NAME, Project, find_manifest

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
    take (`ctx.project`)."""

    options: Options
    console: Console
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @cached_property
    def reporter(self) -> ConsoleReporter:
        return ConsoleReporter(self.console, self.options.verbosity)

    @cached_property
    def project(self) -> Project:
        """The project of --manifest (a file, or a folder holding mlenv.yaml), else of the
        nearest mlenv.yaml here or in a parent folder (as uv and pixi find theirs)."""
        manifest = self.options.manifest
        if manifest is None:
            path = find_manifest(Path.cwd())
        else:
            path = manifest.absolute()
            path = path / MANIFEST_NAME if path.is_dir() else path
        project = Project(
            manifest_path=path,
            lock_file=self.options.lock.absolute() if self.options.lock else None,
            environ=self.environ,
            reporter=self.reporter,
            offline=self.options.offline,
        )
        self.reporter.debug(f"manifest: {project.manifest_path}")
        self.reporter.debug(f"lock: {project.lock_path}")
        self.reporter.debug(f"MLENV_HOME: {project.home}")
        return project
