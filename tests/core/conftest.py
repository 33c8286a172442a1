"""Fixtures for the core format models: recipe trees on disk and parsing helpers."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlenv.paths import builtin_recipes_dir
from mlenv.yamlio import Problems, parse_yaml


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def parse() -> Callable[..., tuple[Any, Problems]]:
    """parse(model_cls, yaml_text, label) -> (model, problems) without raising."""

    def _parse(model: Any, text: str, label: str = "file.yaml") -> tuple[Any, Problems]:
        text = dedent(text)
        problems = Problems(label, text)
        obj = model.from_dict(parse_yaml(text, label), problems)
        return obj, problems

    return _parse


@pytest.fixture
def write_tree(tmp_path: Path) -> Callable[[dict[str, str], str], Path]:
    """write_tree({"models/x.yaml": TEXT, ...}, sub) writes files under tmp_path/sub."""

    def _write(files: dict[str, str], sub: str = "recipes") -> Path:
        root = tmp_path / sub
        root.mkdir(parents=True, exist_ok=True)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dedent(text), encoding="utf-8")
        return root

    return _write


@pytest.fixture
def builtin_targets() -> Path:
    return builtin_recipes_dir() / "targets"
