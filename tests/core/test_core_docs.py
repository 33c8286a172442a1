"""The field reference in docs/reference/ is what tools/schemas.py writes, names every key of
every schema, and no Markdown file of the repository links to a local file that is missing."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from mlenv.schema import SCHEMAS
from mlenv.schemadoc import reference, reference_files

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "reference"
# design documents that live outside the repository: a mention of one is a dangling reference
OUTSIDE = ("CONTRACTS.md", "DESIGN.md", "STYLE.md")


def test_reference_files_match_the_tool() -> None:
    for name, text in reference_files().items():
        on_disk = (DOCS / name).read_text(encoding="utf-8")
        assert on_disk == text, f"docs/reference/{name} drifted: run `python tools/schemas.py`"
    assert sorted(p.name for p in DOCS.glob("*.md")) == sorted(reference_files())


def test_the_tool_checks_the_docs_too(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("tools_schemas", ROOT / "tools" / "schemas.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = ["--dir", str(tmp_path / "s"), "--docs-dir", str(tmp_path / "d")]
    assert tool.main(["--check", *args]) == 1
    assert tool.main(args) == 0 and tool.main(["--check", *args]) == 0
    doc = tmp_path / "d" / "manifest.md"
    doc.write_text(doc.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert tool.main(["--check", *args]) == 1


def test_rendering_is_deterministic_and_readable() -> None:
    for name, build in SCHEMAS.items():
        text = reference(name, build())
        assert text == reference(name, build()) and text.endswith("\n")
        for line in text.splitlines():
            assert line.startswith("|") or len(line) <= 120, (name, line)


def _keys(node: Any, out: set[str]) -> set[str]:
    """Every property name anywhere in a JSON Schema."""
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            out.add(key)
            _keys(value, out)
        for key, value in node.items():
            if key != "properties":
                _keys(value, out)
    elif isinstance(node, list):
        for value in node:
            _keys(value, out)
    return out


def test_every_key_of_every_schema_is_documented() -> None:
    for name, build in SCHEMAS.items():
        schema = build()
        text = reference(name, schema)
        fields = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
        leaves = {re.split(r"[.\[\]]+", f.replace("[]", ""))[-1] for f in fields}
        missing = _keys(schema, set()) - leaves
        assert not missing, f"{name}: keys missing from the reference: {sorted(missing)}"
        for title in schema.get("$defs", {}):
            assert f"\n## {title}\n" in text, (name, title)


def test_paths_and_rules_are_spelled_out() -> None:
    recipe = (DOCS / "recipe.md").read_text(encoding="utf-8")
    assert "| `install[].artifact.sha256` | string |" in recipe
    assert "exactly one of `pypi`, `conda`, `artifact`, `local`, `wheel-file`, `detect`" in recipe
    assert "allowed only when `kind` is `model`" in " ".join(recipe.split())  # a wrapped rule
    manifest = (DOCS / "manifest.md").read_text(encoding="utf-8")
    assert "| `benchmark.settings` | mapping |" in manifest
    assert "| `benchmark.max-batch` | integer |  | ≥ 1 | `1024` |" in manifest
    target = (DOCS / "target.md").read_text(encoding="utf-8")
    assert "`cuda` is required when `kind` is `cuda`" in target


def _markdown_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [*files, *sorted((ROOT / "examples").rglob("*.md"))]


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def dangling(path: Path) -> list[str]:
    """The local links of one Markdown file whose target is missing, and outside documents."""
    text = path.read_text(encoding="utf-8")
    out = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor of the same page
        if not (path.parent / target.split("#", 1)[0]).exists():
            out.append(target)
    out += [f"`{m}`" for m in re.findall(r"`([A-Z]+\.md)[^`]*`", text) if m in OUTSIDE]
    out += [m for m in re.findall(r"\b(CONTRACTS|DESIGN) §", text)]
    return out


def test_docs_and_examples_link_only_to_files_that_exist() -> None:
    for path in _markdown_files():
        if path.name == "README.md" and path.parent == ROOT:
            continue  # the lead's: see test_readme_references below
        assert not dangling(path), f"{path.relative_to(ROOT)}: {dangling(path)}"


def test_readme_links_to_files_that_exist() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    broken = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]
    assert [t for t in broken if not (ROOT / t.split("#", 1)[0]).exists()] == []
