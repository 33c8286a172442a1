"""Fixtures for the resolver: a recipe index written from data, and solution rendering."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlenv.index import RecipeIndex, RecipeRoot, load_index

CASES_DIR = Path(__file__).parent / "cases"


def write_index(root: Path, index: Mapping[str, list[Mapping[str, Any]]]) -> RecipeIndex:
    """Write `{kind-folder: [recipe mapping, ...]}` as `<root>/<folder>/<name>.yaml` and load it.

    A recipe without `kind` gets the folder's kind (`frameworks` -> `framework`).
    """
    root.mkdir(parents=True, exist_ok=True)
    for folder, recipes in index.items():
        (root / folder).mkdir(exist_ok=True)
        for data in recipes:
            body = dict(data)
            if folder != "targets":
                body.setdefault("kind", folder.removesuffix("s"))
            text = yaml.safe_dump(body, sort_keys=False)
            (root / folder / f"{body['name']}.yaml").write_text(text, encoding="utf-8")
    return load_index([RecipeRoot(label="./recipes/", path=root)])


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
