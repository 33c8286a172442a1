"""A recipe index written from data (tests as data): `{kind-folder: [recipe mapping, ...]}`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mlenv.index import RecipeIndex, RecipeRoot, load_index


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
