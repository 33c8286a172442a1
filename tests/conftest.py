"""Shared test machinery: `tests/support/` is importable (`import localpypi`), and the fixtures
every offline environment test needs — hand-built wheels and a 127.0.0.1 index and artifact
server — are defined once here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings

# CI replays the same examples every run (a property failure there is then a real, repeatable
# one); local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

import localpypi  # noqa: E402


@pytest.fixture(scope="session")
def helpers() -> ModuleType:
    """The shared helper module (bytes the recipes pin, wheel and project builders, runners)."""
    return localpypi


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return localpypi.build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def server(wheels: Any) -> Iterator[Any]:
    srv = localpypi.start_server(wheels)
    try:
        yield srv
    finally:
        srv.stop()


# -- an offline project run as users run it (tests/cli, tests/security and others) -----------


@pytest.fixture
def make_project(tmp_path: Path, server: Any) -> Callable[..., Any]:
    """make_project(**options) -> Project under tmp_path/project with MLENV_HOME tmp_path/home."""

    def _make(name: str = "project", **options: Any) -> Any:
        return localpypi.write_project(tmp_path / name, tmp_path / "home", server, **options)

    return _make


@pytest.fixture
def project(make_project: Callable[..., Any]) -> Any:
    return make_project()


@pytest.fixture
def mlenv() -> Callable[..., Any]:
    """mlenv(project, *args, env=None, timeout=120) -> Result, via `python -m mlenv`."""
    return localpypi.run_mlenv


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
        return localpypi.run_in_process(
            monkeypatch, capsys, folder, args, localpypi.child_environ(home, server)
        )

    return _run


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL 15 server on 127.0.0.1 for the session (tests/support/pg.py); the tests
    that need it skip, saying why, where it cannot start."""
    import pg

    reason = pg.available()
    if reason is not None:
        pytest.skip(f"no PostgreSQL server: {reason}")
    server = pg.start()
    try:
        yield server
    finally:
        server.stop()
