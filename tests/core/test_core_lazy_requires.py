"""Resolve speed without changing what is read: per-version requirements parsed on first use,
one SpecifierSet per distinct specifier text, and the checked old lock kept by its sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv import lock as lock_module
from mlenv.errors import FormatError
from mlenv.index import RecipeRoot, load_index
from mlenv.lock import load_lock, loads_lock
from mlenv.recipe import Recipe
from mlenv.requirement import parse_requirement
from mlenv.yamlio import Problems, parse_yaml

RECIPE = """
name: tool-a
kind: tool
variants:
  device: {values: [cpu, cuda], default: cpu}
versions:
  - version: "3.0"
    requires:
      - "dep-b >=1,<2"
      - {require: "dep-c", when: {device: cuda}}
  - "2.0"
  - version: "1.0"
    requires: ["dep-b >=0.5"]
"""
BROKEN = RECIPE.replace('"dep-b >=0.5"', '"dep-b >=oops"')
DIGEST = "sha256:" + "ab" * 32
LOCK = f"""\
version: 1
inputs: {{manifest: '{DIGEST}', recipes: '{DIGEST}'}}
targets:
  t1:
    facts: {{os: linux}}
    packages:
      tool-a: {{file: ./recipes/tools/tool-a.yaml, kind: tool, recipe: '{DIGEST}', version: '3.0'}}
"""


def _recipe(text: str, *, lazy: bool, problems: Problems | None = None) -> Recipe:
    data = parse_yaml(text, "tool-a.yaml")
    collector = problems if problems is not None else Problems("tool-a.yaml", text)
    return Recipe.from_dict(data, collector, lazy=lazy)


def test_lazy_versions_equal_the_checked_ones() -> None:
    eager, lazy = _recipe(RECIPE, lazy=False), _recipe(RECIPE, lazy=True)
    assert [v.text for v in lazy.versions] == ["3.0", "2.0", "1.0"]
    assert "requires" not in lazy.versions[0].__dict__  # nothing parsed yet
    for a, b in zip(eager.versions, lazy.versions, strict=True):
        assert a.requires == b.requires
    assert [d.text for d in lazy.versions[0].requires] == ["dep-b >=1,<2", "dep-c"]
    assert lazy.versions[0].requires[1].when  # the condition, with the recipe's variants
    assert eager == lazy


def test_versions_listed_out_of_order_are_sorted() -> None:
    text = 'name: t\nkind: tool\nversions: ["1.0", "10.0", "2.0"]\n'
    for lazy in (False, True):
        assert [v.text for v in _recipe(text, lazy=lazy).versions] == ["10.0", "2.0", "1.0"]


def test_checked_load_reports_a_broken_requirement_at_once() -> None:
    problems = Problems("tool-a.yaml", BROKEN)
    _recipe(BROKEN, lazy=False, problems=problems)
    [(path, message)] = problems.items
    assert path == "versions[2].requires[0]"
    assert "invalid requirement 'dep-b >=oops'" in message


def test_lazy_load_refuses_a_broken_requirement_when_it_is_used() -> None:
    recipe = _recipe(BROKEN, lazy=True, problems=Problems("tool-a.yaml"))
    assert len(recipe.versions[0].requires) == 2  # the good versions are usable
    with pytest.raises(FormatError) as info:
        _ = recipe.versions[2].requires
    [problem] = info.value.problems
    assert problem.where == "tool-a.yaml: versions[2].requires[0]"
    checked = Problems("tool-a.yaml", BROKEN)
    _recipe(BROKEN, lazy=False, problems=checked)
    assert problem.message == checked.items[0][1]  # the message a checked load gives


def test_warm_index_builds_lazily_and_resolves_the_same(tmp_path: Path) -> None:
    folder = tmp_path / "recipes" / "tools"
    folder.mkdir(parents=True)
    (folder / "tool-a.yaml").write_text(RECIPE, encoding="utf-8")
    roots = [RecipeRoot(label="./recipes/", path=tmp_path / "recipes")]
    cold = load_index(roots, cache_dir=tmp_path / "cache").recipes["tool-a"].recipe
    warm = load_index(roots, cache_dir=tmp_path / "cache").recipes["tool-a"].recipe
    assert "requires" not in warm.versions[0].__dict__
    assert warm == cold
    assert [v.requires for v in warm.versions] == [v.requires for v in cold.versions]


def test_one_specifier_set_per_distinct_text() -> None:
    a, b = parse_requirement("x-one >=1,<2"), parse_requirement("x-two >=1,<2")
    assert a.specifier is b.specifier
    assert parse_requirement("x-three").specifier is parse_requirement("x-four").specifier


def test_lock_read_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mlenv.lock"
    path.write_text(LOCK, encoding="utf-8")
    cache = tmp_path / "cache"
    first = load_lock(path, cache_dir=cache)
    assert len(list(cache.glob("lock-*.pickle"))) == 1
    again = load_lock(path, cache_dir=cache)
    assert again == first and again is not first  # each caller its own copy
    assert again.targets["t1"] is not first.targets["t1"]
    # a damaged cache file is ignored; a changed lock is read afresh and replaces it
    monkeypatch.setattr(lock_module, "_READ", {})  # as a new process: only the file is left
    assert load_lock(path, cache_dir=cache) == first
    for f in cache.glob("lock-*.pickle"):
        f.write_bytes(f.read_bytes()[:80] + b"garbage")
    monkeypatch.setattr(lock_module, "_READ", {})
    assert load_lock(path, cache_dir=cache) == first
    path.write_text(LOCK.replace("'3.0'", "'2.0'"), encoding="utf-8")
    assert load_lock(path, cache_dir=cache).targets["t1"].packages["tool-a"].version == "2.0"
    assert len(list(cache.glob("lock-*.pickle"))) == 1


def test_lock_read_cache_never_keeps_problems(tmp_path: Path) -> None:
    bad = LOCK.replace("kind: tool", "kind: tool, extra: 1")
    for _ in range(2):
        with pytest.raises(FormatError, match="1 problem"):
            loads_lock(bad, "bad.lock", cache_dir=tmp_path)
    assert not list(tmp_path.glob("lock-*.pickle"))
