"""The runnable offline project of `nullrun.py` with its wheel server running, as a context
manager; and the same project opened through the public API (`mlenv.Project.open`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import localpypi as H
from nullrun import hostsite_wheels, write_runnable


@contextmanager
def nullrun_project(tmp_path: Path) -> Iterator[H.Project]:
    """A written (not yet resolved) project named `nullrun`, its wheel served from 127.0.0.1."""
    server = H.start_server(hostsite_wheels(tmp_path / "wheels"))
    try:
        yield write_runnable(tmp_path / "project", tmp_path / "home", server)
    finally:
        server.stop()


@contextmanager
def opened_project(tmp_path: Path) -> Iterator[tuple[H.Project, Any]]:
    """The written project, and `mlenv.Project.open` of it as a user of the API would (with
    the environment variables of a test: its own MLENV_HOME, uv pointed at the local index)."""
    import mlenv

    with nullrun_project(tmp_path) as written:
        yield written, mlenv.Project.open(written.root, environ=written.environ())


# the base manifest the sweep tests and benchmarks/bench_sweep.py derive their points from
SWEEP_BASE = """
name: nullrun
recipes: [./recipes]
targets: [host]
requires: ["null", zeromodel, smalldigits]
benchmark:
  model: zeromodel
  dataset: smalldigits
  backend: "null"
  settings: {min_duration: 100, min_query_count: 16, target_qps: 500}
"""
