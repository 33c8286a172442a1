"""Fixtures for the environment layer: real wheels, a 127.0.0.1 index and artifact server, a
store under a per-test MLENV_HOME. The shared machinery lives in `localpypi.py` beside this file
(also loaded by `tests/cli/conftest.py`)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from mlenv.envs.store import Store


def _load_helpers() -> ModuleType:
    name = "mlenv_tests_localpypi"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("localpypi.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


H = _load_helpers()


@pytest.fixture(scope="session")
def helpers() -> ModuleType:
    """The shared helper module (bytes the recipes pin, wheel and project builders, runners)."""
    return H


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> object:
    return H.build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def server(wheels: object) -> Iterator[object]:
    srv = H.start_server(wheels)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: object) -> dict[str, str]:
    """This process's environment as the tests want it: no proxies for 127.0.0.1, its own
    MLENV_HOME, uv pointed at the local index."""
    env = H.child_environ(tmp_path / "home", server)
    for key in list(os.environ):
        if key not in env:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def store(home: Path) -> Store:
    return Store(home)
