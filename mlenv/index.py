"""The recipe index: the manifest's recipe folders first, then the built-in catalog."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FormatError, IndexError_, Problem
from .paths import BUILTIN_PREFIX, builtin_recipes_dir
from .recipe import KINDS, Recipe
from .target import Target
from .yamlio import Problems, parse_yaml, read_text

KIND_FOLDERS = tuple(f"{k}s" for k in KINDS)


@dataclass(frozen=True, kw_only=True)
class RecipeRoot:
    """One recipe folder: `label` is how locks name it (never an absolute host path)."""

    label: str  # "builtin:" or a path relative to the manifest folder, e.g. "./recipes/"
    path: Path


@dataclass(frozen=True, kw_only=True)
class Located:
    recipe: Recipe
    root: RecipeRoot
    relpath: str  # e.g. models/digits-mlp.yaml

    @property
    def label(self) -> str:
        return f"{self.root.label}{self.relpath}"

    def resolve_relative(self, url: str) -> str:
        """A lock-portable name for a file beside the recipe (`builtin:models/x.onnx`)."""
        folder = self.relpath.rsplit("/", 1)[0] if "/" in self.relpath else ""
        rel = f"{folder}/{url}" if folder else url
        return f"{self.root.label}{rel}"


@dataclass(kw_only=True)
class RecipeIndex:
    recipes: dict[str, Located] = field(default_factory=dict)
    providers: dict[str, list[str]] = field(default_factory=dict)  # virtual name -> recipes
    targets: dict[str, tuple[Target, str]] = field(default_factory=dict)  # name -> (target, label)
    shadowed: list[str] = field(default_factory=list)

    def get(self, name: str) -> Located | None:
        return self.recipes.get(name)

    def names(self) -> list[str]:
        return sorted(self.recipes)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_index(roots: list[RecipeRoot]) -> RecipeIndex:
    """Parse every recipe and target of every root (earlier roots shadow later ones).

    All problems of all files are collected and raised together.
    """
    index = RecipeIndex()
    problems: list[Problem] = []
    for root in roots:
        if not root.path.is_dir():
            raise IndexError_(
                f"recipe folder not found: {root.path}",
                where="mlenv.yaml: recipes",
                hint="create the folder or remove it from the manifest's `recipes:` list",
            )
        seen_here: dict[str, str] = {}
        for folder in (*KIND_FOLDERS, "targets"):
            base = root.path / folder
            if not base.is_dir():
                continue
            for file in sorted(base.glob("*.yaml")):
                relpath = f"{folder}/{file.name}"
                label = f"{root.label}{relpath}"
                raw = file.read_bytes()
                text = read_text(file)
                try:
                    data = parse_yaml(text, label)
                except FormatError as e:
                    problems.append(Problem(where=e.where or label, message=e.message))
                    continue
                p = Problems(label, text)
                if folder == "targets":
                    target = Target.from_dict(data, p)
                    problems.extend(p.problems())
                    if not p and target.name not in index.targets:
                        index.targets[target.name] = (target, label)
                    continue
                recipe = Recipe.from_dict(data, p, file=label, sha256=_sha256(raw))
                if not p and recipe.kind + "s" != folder:
                    p.add(
                        "kind",
                        f"a {recipe.kind} recipe belongs under {recipe.kind}s/, not {folder}/",
                    )
                problems.extend(p.problems())
                if p:
                    continue
                if recipe.name in seen_here:
                    problems.append(
                        Problem(
                            where=label,
                            message=f"recipe {recipe.name!r} is also defined in "
                            f"{seen_here[recipe.name]}",
                        )
                    )
                    continue
                seen_here[recipe.name] = label
                if recipe.name in index.recipes:
                    index.shadowed.append(
                        f"{label} (shadowed by {index.recipes[recipe.name].label})"
                    )
                    continue
                index.recipes[recipe.name] = Located(recipe=recipe, root=root, relpath=relpath)
    if problems:
        raise FormatError(
            f"the recipe index has {len(problems)} problem{'s' if len(problems) > 1 else ''}",
            problems=problems,
            hint="fix the files named above; `mlenv recipes lint` checks them",
        )
    for name in sorted(index.recipes):
        for virtual in index.recipes[name].recipe.provides:
            index.providers.setdefault(virtual, []).append(name)
    return index


def index_roots(manifest_dir: Path | None, extra: tuple[str, ...]) -> list[RecipeRoot]:
    roots = []
    for folder in extra:
        path = (manifest_dir / folder) if manifest_dir else Path(folder)
        label = folder.rstrip("/") + "/"
        if not label.startswith((".", "/")):
            label = "./" + label
        roots.append(RecipeRoot(label=label, path=path))
    roots.append(RecipeRoot(label=BUILTIN_PREFIX, path=builtin_recipes_dir()))
    return roots
