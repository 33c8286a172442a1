"""Fixtures for the command line: a project (manifest + recipes) served entirely from 127.0.0.1,
run as users run it (`python -m mlenv …` in the project folder) or in-process where cheaper.
The shared machinery lives in `tests/support/localpypi.py`; `helpers`, `wheels` and `server` come from `tests/conftest.py`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import localpypi
import pytest

H = localpypi


@pytest.fixture
def make_project(tmp_path: Path, server: Any) -> Callable[..., Any]:
    """make_project(**options) -> Project under tmp_path/project with MLENV_HOME tmp_path/home."""

    def _make(name: str = "project", **options: Any) -> Any:
        return H.write_project(tmp_path / name, tmp_path / "home", server, **options)

    return _make


@pytest.fixture
def project(make_project: Callable[..., Any]) -> Any:
    return make_project()


@pytest.fixture
def mlenv() -> Callable[..., Any]:
    """mlenv(project, *args, env=None, timeout=120) -> Result, via `python -m mlenv`."""
    return H.run_mlenv


@pytest.fixture
def resolved(project: Any, mlenv: Callable[..., Any]) -> Any:
    result = mlenv(project, "resolve")
    assert result.returncode == 0, str(result)
    return project


@pytest.fixture
def installed(resolved: Any, mlenv: Callable[..., Any]) -> Any:
    """A resolved and installed project; `.env` is its environment folder."""
    result = mlenv(resolved, "install")
    assert result.returncode == 0, str(result)
    resolved.env = Path(result.stdout.strip())
    return resolved


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    """cli(folder, *args, home=…, server=…) -> Result: `mlenv.cli.main.main(args)` in-process,
    in `folder`, with the environment the subprocess runs get."""

    def _run(folder: Path, *args: str, home: Path, server: Any = None) -> Any:
        return H.run_in_process(monkeypatch, capsys, folder, args, H.child_environ(home, server))

    return _run
