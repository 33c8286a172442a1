"""recipes: browse (list, show), check (lint) and complete (checksum) the project's recipes."""

from __future__ import annotations

import hashlib
import itertools
import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from mlenv.envs.download import fetch_to_store
from mlenv.envs.store import Store
from mlenv.errors import FormatError, Problem, UsageError
from mlenv.index import Located
from mlenv.manifest import Manifest
from mlenv.paths import BUILTIN_PREFIX
from mlenv.recipe import Recipe
from mlenv.sources import MD5_RE, SHA256_RE, DetectSource, substitute
from mlenv.target import Target
from mlenv.yamlio import Problems, parse_yaml, read_text

from .install import fetch_options
from .project import Project

EXAMPLES = "examples"  # ready manifests (`mlenv init --example NAME`), linted as manifests
TARGETS = "targets"


# -- list, show -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipeInfo:
    name: str
    kind: str
    summary: str
    versions: tuple[str, ...]
    provides: tuple[str, ...]
    variants: dict[str, dict[str, Any]]  # name -> {"values": [...], "default": ...}
    file: str  # the index's label of the recipe file
    path: Path  # that file on disk

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "versions": list(self.versions),
            "provides": list(self.provides),
            "variants": self.variants,
            "file": self.file,
        }


def _info(located: Located) -> RecipeInfo:
    recipe = located.recipe
    return RecipeInfo(
        name=recipe.name,
        kind=recipe.kind,
        summary=recipe.summary,
        versions=tuple(v.text for v in recipe.versions),
        provides=tuple(recipe.provides),
        variants={
            v.name: {"values": list(v.values), "default": v.default} for v in recipe.variants
        },
        file=located.label,
        path=Path(str(located.root.path), located.relpath),
    )


def list_recipes(project: Project, kind: str | None = None) -> tuple[RecipeInfo, ...]:
    """Every recipe of the project's index (its own folders, then the built-in ones)."""
    index = project.index
    found = (_info(index.recipes[n]) for n in index.names())
    return tuple(r for r in found if kind is None or r.kind == kind)


def _located(project: Project, name: str) -> Located:
    located = project.index.get(name)
    if located is None:
        raise UsageError(f"no recipe named {name!r}", hint="see `mlenv recipes list`")
    return located


def show(project: Project, name: str) -> RecipeInfo:
    return _info(_located(project, name))


# -- lint -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LintResult:
    files: int  # files checked (recipes, targets and examples with no paths given)
    recipes: int | None  # with no paths given: the index's recipes and targets
    targets: int | None
    # valid, but worth knowing: a detect: program, md5-only, a YAML file the index ignores
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "recipes": self.recipes,
            "targets": self.targets,
            "warnings": list(self.warnings),
        }


def lint(project: Project, paths: Sequence[Path] = ()) -> LintResult:
    """Check recipe, target and example files (default: the whole index and the built-in
    examples); every problem of every file in one FormatError."""
    warnings: list[str] = []
    if not paths:
        index = project.index  # loading the index checks every recipe and target
        warnings.extend(index.ignored)  # files in the recipe folders it does not read
        examples = sorted((project.builtin_dir / EXAMPLES).glob("*.yaml"))
        problems = [p for f in examples for p in _lint_file(f, warnings)]
        _raise_if(project, problems, len(examples), warnings)
        for name in index.with_source("detect"):
            located = index.recipes[name]
            if located.root.label != BUILTIN_PREFIX:
                warnings.extend(_detect_warnings(located.label, located.recipe))
        return LintResult(
            files=len(examples),
            recipes=len(index.recipes),
            targets=len(index.targets),
            warnings=tuple(warnings),
        )
    files = [f for p in paths for f in (sorted(p.rglob("*.yaml")) if p.is_dir() else [p])]
    _raise_if(project, [p for f in files for p in _lint_file(f, warnings)], len(files), warnings)
    return LintResult(files=len(files), recipes=None, targets=None, warnings=tuple(warnings))


def _raise_if(project: Project, problems: list[Problem], files: int, warnings: list[str]) -> None:
    """A FormatError listing every problem; the warnings so far go to the reporter first (a
    failed lint returns no result to carry them)."""
    if problems:
        for warning in warnings:
            project.reporter.warn(warning)
        raise FormatError(
            f"{len(problems)} problem(s) in {files} file(s)",
            problems=problems,
            hint="fix the fields named above",
            details={"warnings": list(warnings)} if warnings else None,
        )


def _lint_file(file: Path, warnings: list[str]) -> list[Problem]:
    """One file's problems: a target, an example manifest, or a recipe (by its folder)."""
    text = read_text(file)
    try:
        data = parse_yaml(text, str(file))
    except FormatError as e:
        return [Problem(where=e.where or str(file), message=e.message)]
    collector = Problems(str(file), text)
    folder = file.parent.name
    if folder == TARGETS:
        Target.from_dict(data, collector)
    elif folder == EXAMPLES:
        Manifest.from_dict(data, collector)
    else:
        recipe = Recipe.from_dict(data, collector, file=str(file))
        if not collector and recipe.kind + "s" != folder:
            collector.add("kind", f"a {recipe.kind} recipe belongs under {recipe.kind}s/")
        if not collector:
            warnings.extend(_detect_warnings(str(file), recipe))
        md5_only = sum(1 for _, s in _artifacts(data) if s.get("md5") and not s.get("sha256"))
        if md5_only:
            warnings.append(
                f"{file}: {md5_only} artifact(s) have only an md5 "
                f"(`mlenv recipes checksum {recipe.name}` adds the sha256)"
            )
    return collector.problems()


def _detect_warnings(file: str, recipe: Recipe) -> list[str]:
    """A `detect:` recipe runs a program on this machine: say which, and when."""
    out = []
    for entry in recipe.install:
        if isinstance(entry.source, DetectSource):
            s = entry.source
            line = " | ".join(" ".join((exe, *s.args)) for exe in s.executables)
            out.append(
                f"{file}: detect: runs `{line}` on this machine at `mlenv resolve` when the "
                f"manifest's requirements reach {recipe.name}"
            )
    return out


def _artifacts(data: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(install index, artifact mapping) of every artifact entry of raw recipe data."""
    install = data.get("install") if isinstance(data, dict) else None
    for i, entry in enumerate(install if isinstance(install, list) else []):
        body = entry.get("artifact") if isinstance(entry, dict) else None
        if isinstance(body, dict):
            yield i, body


# -- checksum ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Checksummed:
    url: str
    md5: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"url": self.url, "md5": self.md5, "sha256": self.sha256}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChecksumResult:
    recipe: str
    file: str  # the index's label of the recipe file
    path: Path
    artifacts: tuple[Checksummed, ...]  # empty: every artifact already had its sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "file": self.file,
            "artifacts": [a.to_dict() for a in self.artifacts],
        }


def checksum(project: Project, name: str) -> ChecksumResult:
    """Like `spack checksum`: fetch every md5-only artifact of NAME, check its md5, and write
    its sha256 into the recipe file beside the md5 (a minimal text edit: comments survive)."""
    located = _located(project, name)
    path = Path(str(located.root.path), located.relpath)
    text = read_text(path)
    data = parse_yaml(text, located.label)
    pending = [(i, b) for i, b in _artifacts(data) if b.get("md5") and not b.get("sha256")]
    done = [_fetch(project, located, path, i, body) for i, body in pending]
    if done:
        written = [(i, d.sha256) for (i, _), d in zip(pending, done, strict=True)]
        edits = [
            _insertion(text, i, sha256, f"{located.label}: install[{i}].artifact")
            for i, sha256 in written
        ]
        new_text = text
        for offset, insert in sorted(edits, reverse=True):
            new_text = new_text[:offset] + insert + new_text[offset:]
        _check_written(new_text, located.label, written)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(new_text, encoding="utf-8")
        os.replace(tmp, path)
    return ChecksumResult(recipe=name, file=located.label, path=path, artifacts=tuple(done))


def _fetch(
    project: Project, located: Located, path: Path, i: int, body: dict[str, Any]
) -> Checksummed:
    """Download one md5-only artifact into the store, checking its md5; its sha256."""
    at = f"{located.label}: install[{i}].artifact"
    md5 = str(body["md5"]).lower()
    if not MD5_RE.fullmatch(md5):
        raise FormatError(f"not an md5 hex digest: {md5!r}", where=f"{at}.md5")
    url = _one_url(located.recipe, str(body.get("url", "")), at)
    source = url if "://" in url else str(path.parent / url)
    _, sha256 = fetch_to_store(
        Store(project.home),
        source,
        sha256=None,
        md5=md5,
        label=f"{located.recipe.name}: {posixpath.basename(url.split('?', 1)[0]) or url}",
        options=fetch_options(project),
        reporter=project.reporter,
    )
    return Checksummed(url=url, md5=md5, sha256=sha256)


def _one_url(recipe: Recipe, url: str, at: str) -> str:
    """The artifact's URL; one with placeholders must read the same for every version/variant."""
    if "{" not in url:
        return url
    axes = [[(v.name, value) for value in v.values] for v in recipe.variants]
    urls = {
        substitute(url, {"version": rv.text, **dict(combo)})
        for rv in recipe.versions
        for combo in itertools.product(*axes)
    }
    if len(urls) != 1:
        raise UsageError(
            f"the artifact URL {url!r} differs per version or variant",
            where=f"{at}.url",
            hint="give each version or variant its own install entry (with `when:`), each with "
            "its own md5, or add the sha256s by hand",
        )
    return urls.pop()


def _insertion(text: str, index: int, sha256: str, at: str) -> tuple[int, str]:
    """Where and what to insert so that install[index].artifact gains `sha256:` before `md5:`."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    artifact = _child(_child(_child(root, "install"), index), "artifact")
    if not isinstance(artifact, yaml.MappingNode):
        raise FormatError("the artifact is not a mapping", where=at)
    for key, _value in artifact.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "md5":
            mark = key.start_mark
            if artifact.flow_style:
                return mark.index, f"sha256: {sha256}, "
            return mark.index, f"sha256: {sha256}\n{' ' * mark.column}"
    raise FormatError("the artifact has no md5 key", where=at)


def _child(node: Any, key: str | int) -> Any:
    if isinstance(key, int) and isinstance(node, yaml.SequenceNode):
        return node.value[key]
    if isinstance(key, str) and isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    raise FormatError(f"cannot find {key!r} in the recipe text")


def _check_written(text: str, label: str, expected: list[tuple[int, str]]) -> None:
    """The edited text must still be a valid recipe holding exactly the new sha256s."""
    data = parse_yaml(text, label)
    problems = Problems(label, text)
    Recipe.from_dict(data, problems, file=label)
    problems.raise_if_any("recipe", hint="the edit would break the recipe: add the sha256 by hand")
    found = dict(_artifacts(data))
    for i, sha256 in expected:
        written = str(found.get(i, {}).get("sha256", ""))
        if written != sha256 or not SHA256_RE.fullmatch(written):
            raise FormatError(
                f"could not write the sha256 of install[{i}] into {label}",
                hint=f"add `sha256: {sha256}` to that artifact by hand",
            )


# -- checksum --update: local files that changed ------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Rehashed:
    url: str
    field: str  # install[i].artifact.sha256
    old: str | None
    new: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "size": self.size,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateResult:
    recipe: str
    file: str
    path: Path
    updated: tuple[Rehashed, ...]  # empty: every local file already matched

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "file": self.file,
            "updated": [u.to_dict() for u in self.updated],
        }


def checksum_update(project: Project, name: str) -> UpdateResult:
    """`recipes checksum --update NAME`: rewrite the sha256 (and size) of NAME's artifacts
    that are files beside the recipe, editing only those values (comments and layout kept),
    written atomically."""
    located = _located(project, name)
    if located.root.label == BUILTIN_PREFIX:
        raise UsageError(
            f"{name} is a built-in recipe: its files are part of mlenv",
            where=located.label,
            hint="copy the recipe into your project's recipes folder to change it",
        )
    path = Path(str(located.root.path), located.relpath)
    text = read_text(path)
    data = parse_yaml(text, located.label)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    edits: list[tuple[int, int, str]] = []
    done: list[Rehashed] = []
    for i, body in _artifacts(data):
        url = str(body.get("url", ""))
        file = _beside(path, url)
        if file is None or "sha256" not in body:
            continue
        if not file.is_file():
            raise UsageError(
                f"{file} is not there", where=f"{located.label}: install[{i}].artifact.url"
            )
        new, size = _hash_file(file)
        old = str(body.get("sha256") or "") or None
        artifact = _child(_child(_child(root, "install"), i), "artifact")
        if old != new:
            edits.append(_value_span(artifact, "sha256", new))
        if "size" in body and body.get("size") != size:
            edits.append(_value_span(artifact, "size", str(size)))
        if old != new or ("size" in body and body.get("size") != size):
            done.append(
                Rehashed(
                    url=url, field=f"install[{i}].artifact.sha256", old=old, new=new, size=size
                )
            )
    done += _rehash_folders(path, data, root, edits, located.label)
    if edits:
        new_text = text
        for start, end, value in sorted(edits, reverse=True):
            new_text = new_text[:start] + value + new_text[end:]
        files = [d for d in done if d.field.endswith(".artifact.sha256")]
        _check_written(
            new_text, located.label, [(int(d.field[8:].split("]")[0]), d.new) for d in files]
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(new_text, encoding="utf-8")
        os.replace(tmp, path)
    return UpdateResult(recipe=name, file=located.label, path=path, updated=tuple(done))


def _rehash_folders(
    path: Path, data: Any, root: Any, edits: list[tuple[int, int, str]], label: str
) -> list[Rehashed]:
    """The `local: {path, tree-sha256}` folders beside the recipe whose tree digest moved: their
    new digest added to `edits`."""
    from mlenv.envs.archives import tree_digest, tree_size

    install = data.get("install") if isinstance(data, dict) else None
    done = []
    for i, entry in enumerate(install if isinstance(install, list) else []):
        body = entry.get("local") if isinstance(entry, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            continue
        folder = _beside(path, body["path"].rstrip("/"))
        if folder is None or not folder.is_dir():
            raise UsageError(
                f"{folder} is not a folder",
                where=f"{label}: install[{i}].local.path",
                hint="put the folder back, or fix `path:` in the recipe",
            )
        new, old = tree_digest(folder), str(body.get("tree-sha256") or "") or None
        if old != new:
            local = _child(_child(_child(root, "install"), i), "local")
            edits.append(_value_span(local, "tree-sha256", new))
            field = f"install[{i}].local.tree-sha256"
            done.append(
                Rehashed(url=body["path"], field=field, old=old, new=new, size=tree_size(folder))
            )
    return done


def _beside(recipe_path: Path, url: str) -> Path | None:
    """The local file an artifact url names (beside the recipe, or file://), else None."""
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    if "://" in url or "{" in url or not url:
        return None
    return recipe_path.parent / url


def _hash_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        return digest, f.tell()  # the size: how far the digest read


def _value_span(mapping: Any, key: str, value: str) -> tuple[int, int, str]:
    """The text span of `key`'s scalar value in a composed mapping node, and its new text."""
    node = _child(mapping, key)
    if not isinstance(node, yaml.ScalarNode):
        raise FormatError(f"{key} is not a plain value", hint=f"set {key}: {value} by hand")
    return node.start_mark.index, node.end_mark.index, value
