"""The recipe index: the manifest's recipe folders first, then the built-in catalog."""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import FormatError, IndexError_, Problem
from .paths import BUILTIN_PREFIX, builtin_recipes_dir
from .recipe import KINDS, Recipe
from .target import Target
from .yamlio import Problems, parse_yaml

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


INDEX_CACHE_FORMAT = "1"


def _files(roots: list[RecipeRoot]) -> list[tuple[RecipeRoot, str, Path, bytes]]:
    out = []
    for root in roots:
        if not root.path.is_dir():
            raise IndexError_(
                f"recipe folder not found: {root.path}",
                where="mlenv.yaml: recipes",
                hint="create the folder or remove it from the manifest's `recipes:` list",
            )
        for folder in (*KIND_FOLDERS, "targets"):
            base = root.path / folder
            if base.is_dir():
                for file in sorted(base.glob("*.yaml")):
                    out.append((root, f"{folder}/{file.name}", file, file.read_bytes()))
    return out


def load_index(roots: list[RecipeRoot], cache_dir: Path | None = None) -> RecipeIndex:
    """Parse every recipe and target of every root (earlier roots shadow later ones).

    All problems of all files are collected and raised together. With `cache_dir`, the parsed
    index is kept in a pickle keyed by every file's sha256 (and the roots), so an unchanged
    index is parsed once.
    """
    files = _files(roots)
    key = None
    if cache_dir is not None:
        h = hashlib.sha256(f"{INDEX_CACHE_FORMAT} {__version__}".encode())
        for root, relpath, _, raw in files:
            h.update(f"\0{root.label}\0{root.path}\0{relpath}\0{_sha256(raw)}".encode())
        key = cache_dir / f"index-{h.hexdigest()[:32]}.pickle"
        try:
            with key.open("rb") as f:
                cached = pickle.load(f)
            if isinstance(cached, RecipeIndex):
                return cached
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
            pass
    index = _parse(files)
    if key is not None:
        try:
            key.parent.mkdir(parents=True, exist_ok=True)
            tmp = key.with_name(f".{key.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, key)
        except OSError:
            pass  # a cache that cannot be written is only slower
    return index


def _parse(files: list[tuple[RecipeRoot, str, Path, bytes]]) -> RecipeIndex:
    index = RecipeIndex()
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}  # (root label, recipe name) -> file label
    for root, relpath, _file, raw in files:
        label = f"{root.label}{relpath}"
        folder = relpath.split("/", 1)[0]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append(Problem(where=label, message=f"not UTF-8 text: {e}"))
            continue
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
            p.add("kind", f"a {recipe.kind} recipe belongs under {recipe.kind}s/, not {folder}/")
        problems.extend(p.problems())
        if p:
            continue
        other = seen.get((root.label, recipe.name))
        if other is not None:
            problems.append(
                Problem(where=label, message=f"recipe {recipe.name!r} is also defined in {other}")
            )
            continue
        seen[(root.label, recipe.name)] = label
        if recipe.name in index.recipes:
            index.shadowed.append(f"{label} (shadowed by {index.recipes[recipe.name].label})")
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
