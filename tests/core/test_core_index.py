"""The recipe index: folders per kind, shadowing roots, every problem of every file at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlenv.errors import FormatError, IndexError_
from mlenv.index import Located, RecipeRoot, index_roots, load_index
from mlenv.paths import BUILTIN_PREFIX, builtin_recipes_dir

MODEL = """
name: x
kind: model
format: onnx
versions: ["1"]
"""
FRAMEWORK = """
name: {name}
kind: framework
provides: [{provides}]
versions: ["{version}"]
"""
TARGET = """
name: t1
os: linux
arch: x86_64
python: "3.11"
"""


def root(path: Path, label: str = "./recipes/") -> RecipeRoot:
    return RecipeRoot(label=label, path=path)


def test_loads_recipes_and_targets(write_tree) -> None:
    path = write_tree(
        {
            "models/x.yaml": MODEL,
            "frameworks/ort.yaml": FRAMEWORK.format(name="ort", provides="engine", version="1.0"),
            "frameworks/trt.yaml": FRAMEWORK.format(name="trt", provides="engine", version="2.0"),
            "targets/t1.yaml": TARGET,
            "models/README.md": "not a recipe",
            "misc/y.yaml": "not: scanned",
        }
    )
    index = load_index([root(path)])
    assert index.names() == ["ort", "trt", "x"]
    located = index.get("x")
    assert isinstance(located, Located)
    assert located.relpath == "models/x.yaml"
    assert located.label == "./recipes/models/x.yaml"
    assert located.recipe.file == "./recipes/models/x.yaml"
    raw = (path / "models/x.yaml").read_bytes()
    assert located.recipe.sha256 == hashlib.sha256(raw).hexdigest()
    assert index.providers == {"engine": ["ort", "trt"]}
    target, label = index.targets["t1"]
    assert target.python == "3.11" and label == "./recipes/targets/t1.yaml"
    assert index.get("nope") is None
    assert index.shadowed == []


def test_recipe_under_the_wrong_kind_folder(write_tree) -> None:
    path = write_tree({"frameworks/x.yaml": MODEL})
    with pytest.raises(FormatError) as info:
        load_index([root(path)])
    [problem] = info.value.problems
    assert problem.where == "./recipes/frameworks/x.yaml:2: kind"
    assert "models/" in problem.message


def test_duplicate_names_in_one_root(write_tree) -> None:
    path = write_tree(
        {
            "frameworks/a.yaml": FRAMEWORK.format(name="dup", provides="e", version="1.0"),
            "frameworks/b.yaml": FRAMEWORK.format(name="dup", provides="e", version="2.0"),
        }
    )
    with pytest.raises(FormatError) as info:
        load_index([root(path)])
    [problem] = info.value.problems
    assert "./recipes/frameworks/b.yaml" in problem.where
    assert "dup" in problem.message and "./recipes/frameworks/a.yaml" in problem.message


def test_an_earlier_root_shadows_a_later_one(write_tree) -> None:
    mine = write_tree(
        {
            "frameworks/ort.yaml": FRAMEWORK.format(name="ort", provides="e", version="1.0"),
            "targets/t1.yaml": TARGET,
        },
        "mine",
    )
    theirs = write_tree(
        {
            "frameworks/ort.yaml": FRAMEWORK.format(name="ort", provides="e", version="2.0"),
            "frameworks/other.yaml": FRAMEWORK.format(name="other", provides="e", version="3.0"),
            "targets/t1.yaml": TARGET.replace('"3.11"', '"3.12"'),
        },
        "theirs",
    )
    index = load_index([root(mine), root(theirs, "builtin:")])
    ort = index.get("ort")
    assert ort is not None
    assert str(ort.recipe.versions[0].version) == "1.0"
    assert ort.label == "./recipes/frameworks/ort.yaml"
    assert index.get("other").label == "builtin:frameworks/other.yaml"
    assert len(index.shadowed) == 1
    assert index.shadowed[0].startswith("builtin:frameworks/ort.yaml")
    assert index.providers == {"e": ["ort", "other"]}
    assert index.targets["t1"][0].python == "3.11"


def test_every_problem_of_every_file_at_once(write_tree) -> None:
    path = write_tree(
        {
            "models/bad.yaml": "name: bad\nkind: model\nversions: ['1']\ncolour: red\n",
            "tools/broken.yaml": "name: broken\nkind: [\n",
            "tools/ok.yaml": "name: ok\nkind: tool\nversions: ['1']\n",
            "targets/t.yaml": "name: t\nos: linux\n",
        }
    )
    with pytest.raises(FormatError) as info:
        load_index([root(path)])
    wheres = [p.where for p in info.value.problems]
    assert "./recipes/models/bad.yaml:4: colour" in wheres
    assert any(w.startswith("./recipes/tools/broken.yaml:3:") for w in wheres), wheres
    assert any(w.startswith("./recipes/targets/t.yaml") and w.endswith("arch") for w in wheres)
    assert not any("ok.yaml" in w for w in wheres)
    assert info.value.message.startswith(f"the recipe index has {len(wheres)} problems")


def test_missing_root_folder(tmp_path) -> None:
    with pytest.raises(IndexError_) as info:
        load_index([root(tmp_path / "nowhere")])
    assert "nowhere" in info.value.message


def test_resolve_relative(write_tree) -> None:
    path = write_tree({"models/x.yaml": MODEL})
    located = load_index([root(path)]).get("x")
    assert located.resolve_relative("x.onnx") == "./recipes/models/x.onnx"
    builtin = Located(recipe=located.recipe, root=root(path, "builtin:"), relpath="models/x.yaml")
    assert builtin.resolve_relative("x.onnx") == "builtin:models/x.onnx"
    assert builtin.resolve_relative("sub/x.onnx") == "builtin:models/sub/x.onnx"
    flat = Located(recipe=located.recipe, root=root(path), relpath="x.yaml")
    assert flat.resolve_relative("x.onnx") == "./recipes/x.onnx"


def test_index_roots(tmp_path) -> None:
    roots = index_roots(tmp_path, ("recipes", "./more/", "/abs/path"))
    assert [r.label for r in roots] == ["./recipes/", "./more/", "/abs/path/", BUILTIN_PREFIX]
    assert roots[0].path == tmp_path / "recipes"
    assert roots[-1].path == builtin_recipes_dir()


def test_builtin_index_is_valid() -> None:
    index = load_index([RecipeRoot(label=BUILTIN_PREFIX, path=builtin_recipes_dir())])
    assert "onnxruntime" in index.names()
    assert "inference-engine" in index.providers
    assert {"linux-x86_64-cpu", "linux-aarch64-cpu"} <= set(index.targets)
    for name in index.names():
        assert index.get(name).label.startswith(BUILTIN_PREFIX)


def test_an_unreadable_file_is_collected_with_the_others(write_tree) -> None:
    path = write_tree({"models/bad.yaml": "name: bad\nkind: model\nversions: ['1']\ncolour: red\n"})
    (path / "tools").mkdir()
    (path / "tools" / "latin1.yaml").write_bytes(b"name: caf\xe9\nkind: tool\n")
    with pytest.raises(FormatError) as info:
        load_index([root(path)])
    wheres = [p.where for p in info.value.problems]
    assert "./recipes/models/bad.yaml:4: colour" in wheres
    assert any("latin1.yaml" in p.where or "latin1.yaml" in p.message for p in info.value.problems)


def test_index_cache(write_tree, tmp_path) -> None:
    path = write_tree(
        {"frameworks/ort.yaml": FRAMEWORK.format(name="ort", provides="e", version="1.0")}
    )
    cache = tmp_path / "cache"
    first = load_index([root(path)], cache_dir=cache)
    assert len(list(cache.glob("index-*.marshal"))) == 1
    again = load_index([root(path)], cache_dir=cache)
    assert again.names() == first.names() == ["ort"]
    assert again.get("ort").recipe == first.get("ort").recipe
    # a changed file is a new key: the change is seen
    (path / "frameworks/ort.yaml").write_text(
        FRAMEWORK.format(name="ort", provides="e", version="2.0"), encoding="utf-8"
    )
    changed = load_index([root(path)], cache_dir=cache)
    assert str(changed.get("ort").recipe.versions[0].version) == "2.0"
    # a corrupt cache file is ignored
    for f in cache.glob("index-*.marshal"):
        f.write_bytes(b"not marshal data")
    assert load_index([root(path)], cache_dir=cache).names() == ["ort"]
    # problems are never cached away
    (path / "frameworks/ort.yaml").write_text("name: ort\nkind: framework\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(FormatError):
            load_index([root(path)], cache_dir=cache)
