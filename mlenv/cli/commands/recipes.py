"""`mlenv recipes list|show|lint|checksum`: browse, check and complete recipes."""

from __future__ import annotations

import argparse
import itertools
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table

from mlenv.envs.download import FetchOptions, fetch_to_store
from mlenv.envs.store import Store
from mlenv.errors import FormatError, Problem, UsageError
from mlenv.index import Located
from mlenv.manifest import Manifest
from mlenv.paths import BUILTIN_PREFIX
from mlenv.recipe import KINDS, Recipe
from mlenv.sources import MD5_RE, SHA256_RE, DetectSource, substitute
from mlenv.target import Target
from mlenv.yamlio import Problems, parse_yaml, read_text

from ..context import Context
from ..output import emit_json

COMMANDS = ("recipes",)
EXAMPLES = "examples"  # ready manifests (`mlenv init --example NAME`), linted as manifests
TARGETS = "targets"


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="browse, check and complete recipes")
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="list recipes")
    lst.add_argument("--kind", choices=KINDS)
    show = rsub.add_parser("show", help="show one recipe")
    show.add_argument("name")
    lint = rsub.add_parser(
        "lint", help="check recipe, target and example files (default: the whole index)"
    )
    lint.add_argument("paths", nargs="*", type=Path)
    checksum = rsub.add_parser(
        "checksum",
        help="download a recipe's md5-only artifacts, check the md5, write their sha256 into it",
    )
    checksum.add_argument("name")
    p.set_defaults(func=run)


def _summary(recipe: Recipe, label: str) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "kind": recipe.kind,
        "summary": recipe.summary,
        "versions": [v.text for v in recipe.versions],
        "provides": list(recipe.provides),
        "variants": {
            v.name: {"values": list(v.values), "default": v.default} for v in recipe.variants
        },
        "file": label,
    }


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.action == "lint":
        return _lint(args.paths, ctx)
    if args.action == "checksum":
        return _checksum(args.name, ctx)
    index = ctx.index
    if args.action == "show":
        located = _located(ctx, args.name)
        data = _summary(located.recipe, located.label)
        if ctx.options.json:
            emit_json({"version": 1, "recipe": data})
        else:
            ctx.console.print(f"[bold]{located.label}[/bold]\n")
            ctx.console.print(read_text(_recipe_path(located)), markup=False)
        return 0
    rows = [
        _summary(loc.recipe, loc.label)
        for loc in (index.recipes[n] for n in index.names())
        if not args.kind or loc.recipe.kind == args.kind
    ]
    if ctx.options.json:
        emit_json({"version": 1, "recipes": rows})
        return 0
    table = Table(title="recipes", title_justify="left")
    for col in ("name", "kind", "versions", "variants", "summary"):
        table.add_column(col)
    for r in rows:
        variants = " ".join(f"{k}={'|'.join(v['values'])}" for k, v in r["variants"].items())
        table.add_row(
            r["name"], r["kind"], ", ".join(r["versions"][:4]), variants or "-", r["summary"]
        )
    ctx.console.print(table)
    return 0


def _located(ctx: Context, name: str) -> Located:
    located = ctx.index.get(name)
    if located is None:
        raise UsageError(f"no recipe named {name!r}", hint="see `mlenv recipes list`")
    return located


def _recipe_path(located: Located) -> Path:
    return Path(str(located.root.path), located.relpath)


# -- lint -------------------------------------------------------------------------------------


def _lint(paths: list[Path], ctx: Context) -> int:
    if not paths:
        count = len(ctx.index.recipes)  # loading the index checks every recipe and target
        examples = sorted((ctx.builtin_dir / EXAMPLES).glob("*.yaml"))
        problems = [p for file in examples for p in _lint_file(file, ctx)]
        _raise_if(problems, len(examples))
        for name in ctx.index.with_source("detect"):
            located = ctx.index.recipes[name]
            if located.root.label != BUILTIN_PREFIX:
                _warn_detect(ctx, located.label, located.recipe)
        ctx.reporter.info(
            f"{count} recipes, {len(ctx.index.targets)} targets and {len(examples)} examples "
            "are valid"
        )
        return 0
    files = [f for p in paths for f in (sorted(p.rglob("*.yaml")) if p.is_dir() else [p])]
    problems = [p for file in files for p in _lint_file(file, ctx)]
    _raise_if(problems, len(files))
    ctx.reporter.info(f"{len(files)} file(s) are valid")
    return 0


def _raise_if(problems: list[Problem], files: int) -> None:
    if problems:
        raise FormatError(
            f"{len(problems)} problem(s) in {files} file(s)",
            problems=problems,
            hint="fix the fields named above",
        )


def _lint_file(file: Path, ctx: Context) -> list[Problem]:
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
            _warn_detect(ctx, str(file), recipe)
        md5_only = sum(1 for _, s in _artifacts(data) if s.get("md5") and not s.get("sha256"))
        if md5_only:
            ctx.reporter.warn(
                f"{file}: {md5_only} artifact(s) have only an md5 "
                f"(`mlenv recipes checksum {recipe.name}` adds the sha256)"
            )
    return collector.problems()


def _warn_detect(ctx: Context, file: str, recipe: Recipe) -> None:
    """A `detect:` recipe runs a program on this machine: say which, and when."""
    for entry in recipe.install:
        if isinstance(entry.source, DetectSource):
            s = entry.source
            line = " | ".join(" ".join((exe, *s.args)) for exe in s.executables)
            ctx.reporter.warn(
                f"{file}: detect: runs `{line}` on this machine at `mlenv resolve` when the "
                f"manifest's requirements reach {recipe.name}"
            )


def _artifacts(data: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(install index, artifact mapping) of every artifact entry of raw recipe data."""
    install = data.get("install") if isinstance(data, dict) else None
    for i, entry in enumerate(install if isinstance(install, list) else []):
        body = entry.get("artifact") if isinstance(entry, dict) else None
        if isinstance(body, dict):
            yield i, body


# -- checksum ---------------------------------------------------------------------------------


def _checksum(name: str, ctx: Context) -> int:
    """Like `spack checksum`: fetch every md5-only artifact of NAME, check its md5, and write
    its sha256 into the recipe file beside the md5 (a minimal text edit: comments survive)."""
    located = _located(ctx, name)
    path = _recipe_path(located)
    text = read_text(path)
    data = parse_yaml(text, located.label)
    pending = [
        (i, body) for i, body in _artifacts(data) if body.get("md5") and not body.get("sha256")
    ]
    if not pending:
        ctx.reporter.info(f"{name}: every artifact already has its sha256 ({located.label})")
        if ctx.options.json:
            emit_json({"version": 1, "recipe": name, "file": located.label, "artifacts": []})
        return 0
    store = Store(ctx.home)
    options = FetchOptions(offline=ctx.options.offline, mirrors=ctx.mirrors())
    done: list[dict[str, str]] = []
    edits: list[tuple[int, str]] = []
    for i, body in pending:
        at = f"{located.label}: install[{i}].artifact"
        md5 = str(body["md5"]).lower()
        if not MD5_RE.fullmatch(md5):
            raise FormatError(f"not an md5 hex digest: {md5!r}", where=f"{at}.md5")
        url = _one_url(located.recipe, str(body.get("url", "")), at)
        source = url if "://" in url else str(path.parent / url)
        _, sha256 = fetch_to_store(
            store,
            source,
            sha256=None,
            md5=md5,
            label=f"{name}: {posixpath.basename(url.split('?', 1)[0]) or url}",
            options=options,
            reporter=ctx.reporter,
        )
        edits.append(_insertion(text, i, sha256, at))
        done.append({"url": url, "md5": md5, "sha256": sha256})
    new_text = text
    for offset, insert in sorted(edits, reverse=True):
        new_text = new_text[:offset] + insert + new_text[offset:]
    _check_written(
        new_text, located.label, [(i, d["sha256"]) for (i, _), d in zip(pending, done, strict=True)]
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, path)
    for d in done:
        ctx.reporter.info(f"md5 {d['md5']} matches {d['url']}; wrote sha256 {d['sha256']}")
    ctx.reporter.info(f"updated {located.label} ({path})")
    if ctx.options.json:
        emit_json({"version": 1, "recipe": name, "file": located.label, "artifacts": done})
    return 0


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
