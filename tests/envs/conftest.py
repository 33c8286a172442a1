"""Fixtures for the environment layer: real wheels, a 127.0.0.1 index and artifact server, a
store under a per-test MLENV_HOME. The shared machinery lives in `tests/support/localpypi.py`;
`helpers`, `wheels` and `server` come from `tests/conftest.py`."""

from __future__ import annotations

import os
from pathlib import Path

import localpypi
import pytest

from mlenv.envs.store import Store

H = localpypi


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
