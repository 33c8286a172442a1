"""The recipe index: the manifest's recipe folders first, then the built-in catalog."""

from __future__ import annotations

import hashlib
import marshal
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True, kw_only=True)
class RawRecipe:
    """A recipe file known to be valid, kept as its parsed YAML until it is needed."""

    root: RecipeRoot
    relpath: str
    data: Any
    sha256: str


class LazyRecipes(Mapping[str, Located]):
    """name -> Located, each recipe built from its raw data on first use (a solve visits a
    fraction of a large index; a warm load then skips the YAML and builds only those)."""

    def __init__(self, raw: dict[str, RawRecipe], built: dict[str, Located] | None = None):
        self._raw = raw
        self._built = dict(built or {})

    def __getitem__(self, name: str) -> Located:
        located = self._built.get(name)
        if located is None:
            r = self._raw[name]
            label = f"{r.root.label}{r.relpath}"
            recipe = Recipe.from_dict(
                r.data, Problems(label), file=label, sha256=r.sha256, lazy=True
            )  # valid (checked when cached): each version's requirements parse on first use
            located = self._built[name] = Located(recipe=recipe, root=r.root, relpath=r.relpath)
        return located

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def raw(self, name: str) -> RawRecipe:
        return self._raw[name]


@dataclass(kw_only=True)
class RecipeIndex:
    recipes: LazyRecipes = field(default_factory=lambda: LazyRecipes({}))
    providers: dict[str, list[str]] = field(default_factory=dict)  # virtual name -> recipes
    targets: dict[str, tuple[Target, str]] = field(default_factory=dict)  # name -> (target, label)
    shadowed: list[str] = field(default_factory=list)
    # YAML files of the project's recipe folders the index does not read, each with why
    ignored: list[str] = field(default_factory=list)

    def get(self, name: str) -> Located | None:
        return self.recipes.get(name)

    def names(self) -> list[str]:
        return sorted(self.recipes)

    def with_source(self, kind: str) -> list[str]:
        """Names of recipes with an install entry of this source kind (`detect`, `conda`, …),
        found without building the others."""
        out = []
        for name in self.names():
            install = self.recipes.raw(name).data.get("install") or []
            if any(isinstance(e, dict) and kind in e for e in install):
                out.append(name)
        return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


INDEX_CACHE_FORMAT = "4"  # 3: duplicate keys and unsafe target names refused; 4: shared strings
FileEntry = tuple[RecipeRoot, str, bytes]  # root, relpath (e.g. models/x.yaml), file bytes


def _walk(roots: list[RecipeRoot], *, read: bool = True) -> tuple[list[FileEntry], list[str]]:
    """The one walk of the recipe folders: the files the index reads (`<kind>s/*.yaml`,
    `targets/*.yaml`, with their bytes when `read`), and the YAML files of the project's own
    folders that it does not read, each with why (`ignored`)."""
    files: list[FileEntry] = []
    ignored: list[str] = []
    for root in roots:
        if not root.path.is_dir():
            raise IndexError_(
                f"recipe folder not found: {root.path}",
                where="mlenv.yaml: recipes",
                hint="create the folder or remove it from the manifest's `recipes:` list",
            )
        own = root.label != BUILTIN_PREFIX  # the built-in catalog holds more than recipes
        for entry in sorted(os.scandir(root.path), key=lambda e: e.name):
            if entry.name in _READ and entry.is_dir():
                for name in sorted(os.listdir(entry.path)):
                    rel = f"{entry.name}/{name}"
                    path = Path(entry.path, name)
                    if name.endswith(".yaml"):
                        files.append((root, rel, _recipe_bytes(path) if read else b""))
                    elif own:  # a .yml file, a subfolder
                        ignored.extend(_why(root, f) for f in _yaml_under(path, rel))
            elif own and not entry.name.startswith("."):
                ignored.extend(_why(root, f) for f in _yaml_under(Path(entry.path), entry.name))
    order = {folder: i for i, folder in enumerate(_READ)}
    files.sort(key=lambda f: (roots.index(f[0]), order[f[1].split("/", 1)[0]], f[1]))
    return files, ignored


def _recipe_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise IndexError_(
            f"{path.name} is not a file",
            where=str(path),
            hint="a recipe is one YAML file: rename or remove what is there",
        )
    return path.read_bytes()


_READ = (*KIND_FOLDERS, "targets")  # the folders of a recipe root that the index reads


def _is_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def _yaml_under(path: Path, rel: str) -> list[str]:
    """`rel` when `path` is a YAML file; the YAML files under it (relative to the recipe root,
    links not followed, hidden folders skipped) when it is a folder."""
    if not path.is_dir():
        return [rel] if _is_yaml(path.name) else []
    out: list[str] = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        base = Path(folder).relative_to(path).as_posix()
        prefix = rel if base == "." else f"{rel}/{base}"
        out.extend(f"{prefix}/{name}" for name in sorted(names) if _is_yaml(name))
    return out


def _why(root: RecipeRoot, rel: str) -> str:
    """Why the index does not read `rel` (a YAML file under a project's recipe folder)."""
    parts = rel.split("/")
    where = f"{root.label}{rel}"
    kinds = ", ".join(f"{f}/" for f in _READ)
    if len(parts) == 1:
        stem = parts[0].rsplit(".", 1)[0]
        return (
            f"{where} is ignored: recipes go in a kind folder ({kinds}), "
            f"e.g. {root.label}models/{stem}.yaml"
        )
    if parts[0] not in _READ:
        return f"{where} is ignored: {parts[0]}/ is not one of {kinds}"
    if len(parts) > 2:
        return f"{where} is ignored: files in subfolders of {parts[0]}/ are not read"
    return f"{where} is ignored: recipe files end in .yaml, not .yml"


def load_index(roots: list[RecipeRoot], cache_dir: Path | None = None) -> RecipeIndex:
    """Every recipe and target of every root (earlier roots shadow later ones).

    A cold load parses and validates every file, collecting all problems before failing. With
    `cache_dir`, the parsed YAML of a valid index is kept (marshal, keyed by every file's
    sha256 and the roots), so a warm load skips the YAML and the validation and builds each
    recipe only when it is used.
    """
    files, ignored = _walk(roots)
    hashes = [_sha256(raw) for _, _, raw in files]
    key = None
    if cache_dir is not None:
        h = hashlib.sha256(f"{INDEX_CACHE_FORMAT} {__version__}".encode())
        for (root, relpath, _), digest in zip(files, hashes, strict=True):
            h.update(f"\0{root.label}\0{root.path}\0{relpath}\0{digest}".encode())
        key = cache_dir / f"index-{h.hexdigest()[:32]}.marshal"
        try:
            datas = marshal.loads(key.read_bytes())
            if isinstance(datas, list) and len(datas) == len(files):
                return _assemble(files, hashes, datas, built={}, ignored=ignored)
        except (OSError, ValueError, EOFError, TypeError):
            pass
    datas, built = _parse(files, hashes)
    if key is not None:
        try:
            key.parent.mkdir(parents=True, exist_ok=True)
            tmp = key.with_name(f".{key.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps(_shared(datas, {})))
            os.replace(tmp, key)
        except (OSError, ValueError):
            pass  # a cache that cannot be written is only slower
    return _assemble(files, hashes, datas, built, ignored=ignored)


def _shared(value: Any, seen: dict[str, str]) -> Any:
    """`value` with each distinct string one object: marshal writes a repeated object once
    (keys, requirement strings and versions repeat across a large index), so the cache is
    about half the size and loads faster."""
    if isinstance(value, str):
        return seen.setdefault(value, value)
    if isinstance(value, dict):
        return {_shared(k, seen): _shared(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v, seen) for v in value]
    return value


def _parse(files: list[FileEntry], hashes: list[str]) -> tuple[list[Any], dict[str, Located]]:
    """Parse and validate every file; all problems of all files are raised together."""
    problems: list[Problem] = []
    datas: list[Any] = []
    built: dict[str, Located] = {}
    seen: dict[tuple[str, str], str] = {}  # (root label, recipe name) -> file label
    for (root, relpath, raw), digest in zip(files, hashes, strict=True):
        label = f"{root.label}{relpath}"
        folder = relpath.split("/", 1)[0]
        datas.append(None)
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
            Target.from_dict(data, p)
        else:
            recipe = Recipe.from_dict(data, p, file=label, sha256=digest)
            if not p and recipe.kind + "s" != folder:
                p.add(
                    "kind", f"a {recipe.kind} recipe belongs under {recipe.kind}s/, not {folder}/"
                )
            other = seen.get((root.label, recipe.name))
            if not p and other is not None:
                p.add("name", f"recipe {recipe.name!r} is also defined in {other}")
            if not p:
                seen[(root.label, recipe.name)] = label
                built.setdefault(recipe.name, Located(recipe=recipe, root=root, relpath=relpath))
        problems.extend(p.problems())
        datas[-1] = data
    if problems:
        raise FormatError(
            f"the recipe index has {len(problems)} problem{'s' if len(problems) > 1 else ''}",
            problems=problems,
            hint="fix the files named above; `mlenv recipes lint` checks them",
        )
    return datas, built


def _assemble(
    files: list[FileEntry],
    hashes: list[str],
    datas: list[Any],
    built: dict[str, Located],
    *,
    ignored: list[str],
) -> RecipeIndex:
    """The index from valid parsed files: earlier roots shadow later ones."""
    raw: dict[str, RawRecipe] = {}
    index = RecipeIndex(ignored=list(ignored))
    for (root, relpath, _), digest, data in zip(files, hashes, datas, strict=True):
        label = f"{root.label}{relpath}"
        if relpath.startswith("targets/"):
            target = Target.from_dict(data, Problems(label))
            index.targets.setdefault(target.name, (target, label))
            continue
        name = str(data["name"])
        if name in raw:
            first = raw[name]
            index.shadowed.append(f"{label} (shadowed by {first.root.label}{first.relpath})")
            continue
        raw[name] = RawRecipe(root=root, relpath=relpath, data=data, sha256=digest)
    index.recipes = LazyRecipes(
        raw,
        {
            n: loc
            for n, loc in built.items()
            if loc.relpath == raw[n].relpath and loc.root == raw[n].root
        },
    )
    for name in sorted(raw):
        for virtual in raw[name].data.get("provides") or []:
            index.providers.setdefault(str(virtual), []).append(name)
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


def ignored_files(roots: list[RecipeRoot]) -> list[str]:
    """YAML files under a project's recipe folders that the index does not read, and why (a
    recipe placed flat in `./recipes/`, a folder that is not a kind folder, a `.yml` file).
    A loaded index has them already (`RecipeIndex.ignored`, from the same walk)."""
    return _walk(roots, read=False)[1]
