"""Fixtures for the hostile-input corpus: the offline project (`make_project`, `installed`, …
from tests/conftest.py, served from 127.0.0.1), plus a sentinel folder whose before/after listing
proves nothing outside the allowed roots changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import localpypi
import pytest
import sentinel as _sentinel

H = localpypi


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
