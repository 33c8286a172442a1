"""Shared test machinery: `tests/support/` is importable (`import localpypi`), and the fixtures
every offline environment test needs — hand-built wheels and a 127.0.0.1 index and artifact
server — are defined once here."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
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
