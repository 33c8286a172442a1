"""Fixtures for the hostile-input corpus: the offline project of tests/cli (served from
127.0.0.1), plus a sentinel folder whose before/after listing proves nothing outside the
allowed roots changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import localpypi
import pytest
import sentinel as _sentinel

H = localpypi


@pytest.fixture
def make_project(tmp_path: Path, server: Any) -> Callable[..., Any]:
    def _make(name: str = "project", **options: Any) -> Any:
        return H.write_project(tmp_path / name, tmp_path / "home", server, **options)

    return _make


@pytest.fixture
def project(make_project: Callable[..., Any]) -> Any:
    return make_project()


@pytest.fixture
def mlenv() -> Callable[..., Any]:
    return H.run_mlenv


@pytest.fixture
def resolved(project: Any, mlenv: Callable[..., Any]) -> Any:
    result = mlenv(project, "resolve")
    assert result.returncode == 0, str(result)
    return project


@pytest.fixture
def installed(resolved: Any, mlenv: Callable[..., Any]) -> Any:
    result = mlenv(resolved, "install")
    assert result.returncode == 0, str(result)
    resolved.env = Path(result.stdout.strip())
    return resolved


@pytest.fixture
def sentinel(tmp_path: Path) -> Any:
    """(folder, listing-before, check()) — call check() after the attack."""
    root = _sentinel.make_sentinel(tmp_path / "sentinel")
    before = _sentinel.listing(root)

    class S:
        path = root

        @staticmethod
        def check() -> None:
            _sentinel.assert_unchanged(root, before)

    return S
