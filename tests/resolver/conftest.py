"""Fixtures for the resolver: a recipe index written from data, and solution rendering."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from indexdata import write_index

from mlenv.index import RecipeIndex

CASES_DIR = Path(__file__).parent / "cases"


def render(candidate: Any) -> str:
    """`1.0` or `1.0 [device=cuda,precision=int8]`, as the cases write their expectations."""
    text = str(candidate.version)
    if candidate.variants:
        text += " [" + ",".join(f"{k}={v}" for k, v in candidate.variants) + "]"
    return text


def normalize_expected(value: Any) -> str:
    """An expected entry may set variants in any order; render them sorted like candidates."""
    text = str(value).strip()
    if "[" not in text:
        return text
    version, rest = text.split("[", 1)
    items = sorted(part.strip() for part in rest.rstrip("]").split(",") if part.strip())
    return f"{version.strip()} [{','.join(items)}]"


@pytest.fixture
def make_index(tmp_path: Path) -> Callable[[Mapping[str, list[Mapping[str, Any]]]], RecipeIndex]:
    return lambda index: write_index(tmp_path / "recipes", index)


@pytest.fixture
def render_candidate() -> Callable[[Any], str]:
    return render


@pytest.fixture
def expected_text() -> Callable[[Any], str]:
    return normalize_expected
