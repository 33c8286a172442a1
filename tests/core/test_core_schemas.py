"""The published JSON Schemas (`schemas/*.schema.json`): generated from the models, never drifting
from them, accepting every real file of each format and refusing what the loaders refuse."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlenv.keyspec import Shape
from mlenv.lock import ArtifactPin, CondaPin, Lock, LockedPackage, LockTarget, PypiPin, SystemPin
from mlenv.manifest import BENCHMARK, MANIFEST, Manifest
from mlenv.recipe import RECIPE, Recipe
from mlenv.schema import SCHEMAS, render, schema_files
from mlenv.target import TARGET, Target
from mlenv.yamlio import Problems, parse_yaml, read_yaml

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = ROOT / "schemas"
RECIPES = ROOT / "recipes"
H = "ab" * 32  # a sha256
D = "sha256:" + H


def validator(name: str) -> Any:
    schema = json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def errors(name: str, doc: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(doc)]


def tools_schemas() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tools_schemas", ROOT / "tools" / "schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- (a) drift -----------------------------------------------------------------------------------


def test_the_committed_schemas_are_what_the_models_generate() -> None:
    expected = schema_files()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS_DIR.glob("*.json")}
    assert sorted(on_disk) == sorted(expected) == [f"{n}.schema.json" for n in sorted(SCHEMAS)]
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} drifted: run `python tools/schemas.py`"


def test_generation_is_deterministic_and_formatted() -> None:
    for name, build in SCHEMAS.items():
        text = render(build())
        assert text == render(build())
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert (
            json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + ("\n")
            == text
        ), name


def test_tools_schemas_check_exits_1_on_a_difference(tmp_path: Path) -> None:
    tool = tools_schemas()
    assert tool.main(["--check"]) == 0  # the committed files
    assert tool.main(["--check", "--dir", str(tmp_path)]) == 1  # none there yet
    assert tool.main(["--dir", str(tmp_path)]) == 0
    assert tool.main(["--check", "--dir", str(tmp_path)]) == 0
    lock = tmp_path / "lock.schema.json"
    lock.write_text(lock.read_text(encoding="utf-8").replace("lock", "lokc", 1), encoding="utf-8")
    assert tool.main(["--check", "--dir", str(tmp_path)]) == 1


def _shapes(schema_root: Shape) -> dict[str, Shape]:
    """Every mapping declaration reachable from `schema_root`."""
    out: dict[str, Shape] = {}
    stack: list[Any] = [schema_root]
    while stack:
        node = stack.pop()
        if isinstance(node, Shape):
            if node.title not in out:
                out[node.title] = node
                stack.extend(k.schema for k in node.keys)
                stack.extend(node.rules)
                stack.append(node.extra_values)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return out


@pytest.mark.parametrize(
    ("name", "root"), [("manifest", MANIFEST), ("recipe", RECIPE), ("target", TARGET)]
)
def test_each_declared_mapping_is_in_the_schema_with_its_keys(name: str, root: Shape) -> None:
    schema = SCHEMAS[name]()
    defs = schema.get("$defs", {})
    for title, shape in _shapes(root).items():
        body = schema if shape is root else defs[title]
        assert sorted(body["properties"]) == sorted(shape.names), title
        assert body.get("required", []) == [k.name for k in shape.keys if k.required], title
        assert all(p["description"] for p in body["properties"].values()), title
        assert body["additionalProperties"] is False or shape.extra_values is not None


def test_a_key_added_to_a_declaration_shows_up_in_the_schema(monkeypatch: Any) -> None:
    """The loader and the schema read the same declaration: one new key reaches both."""
    from mlenv import manifest as manifest_module
    from mlenv import schema as schema_module
    from mlenv.keyspec import Key, string

    wider = Shape(
        title=BENCHMARK.title,
        description=BENCHMARK.description,
        keys=(*BENCHMARK.keys, Key("warmup", string(), "a new key")),
    )
    monkeypatch.setattr(manifest_module, "BENCHMARK", wider)
    text = "name: x\nrequires: [a]\nbenchmark: {model: m, dataset: d, backend: b, warmup: '1'}\n"
    problems = Problems("mlenv.yaml", text)
    Manifest.from_dict(parse_yaml(text, "mlenv.yaml"), problems)
    assert not problems, problems.problems()
    root = Shape(
        title=MANIFEST.title,
        description=MANIFEST.description,
        keys=tuple(
            Key(k.name, wider, k.description) if k.name == "benchmark" else k for k in MANIFEST.keys
        ),
    )
    built = schema_module._document("manifest", root)
    assert "warmup" in built["$defs"]["benchmark"]["properties"]


def test_every_lock_field_is_in_the_schema() -> None:
    import dataclasses

    from mlenv import lockfields

    defs = SCHEMAS["lock"]()["$defs"]
    for cls, title in (
        (LockedPackage, "locked-package"),
        (PypiPin, "pypi-pin"),
        (CondaPin, "conda-pin"),
        (ArtifactPin, "artifact-pin"),
        (SystemPin, "system-pin"),
    ):
        assert sorted(defs[title]["properties"]) == sorted(lockfields.keys(cls)), title
    target_keys = [f.name for f in dataclasses.fields(LockTarget) if f.metadata]
    assert sorted(defs["lock-target"]["properties"]) == sorted(target_keys)


# -- (b) every real file is valid ----------------------------------------------------------------


def test_the_schemas_are_valid_draft_2020_12() -> None:
    for name, build in SCHEMAS.items():
        schema = build()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
        assert validator(name).schema == schema


def _files(pattern: str, root: Path = RECIPES) -> list[Path]:
    return sorted(root.glob(pattern))


RECIPE_FILES = [
    p for p in _files("**/*.yaml") if p.relative_to(RECIPES).parts[0] not in ("targets", "examples")
]
TARGET_FILES = _files("targets/*.yaml")
MANIFEST_FILES = _files("examples/*.yaml") + _files("examples/*/mlenv.yaml", ROOT)


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", RECIPE_FILES, ids=_rel)
def test_builtin_recipes_validate(path: Path) -> None:
    data, _ = read_yaml(path)
    assert errors("recipe", data) == []


@pytest.mark.parametrize("path", TARGET_FILES, ids=_rel)
def test_builtin_targets_validate(path: Path) -> None:
    data, _ = read_yaml(path)
    assert errors("target", data) == []


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=_rel)
def test_example_manifests_validate(path: Path) -> None:
    data, _ = read_yaml(path)
    assert errors("manifest", data) == []


def test_there_are_files_of_each_format() -> None:
    assert len(RECIPE_FILES) > 20 and len(TARGET_FILES) >= 3 and len(MANIFEST_FILES) >= 2


def test_host_target_and_normalized_manifest_validate() -> None:
    from mlenv.host import detect_host

    host = detect_host({})
    assert errors("target", host.to_dict()) == []
    text = (ROOT / "examples" / "digits" / "mlenv.yaml").read_text(encoding="utf-8")
    problems = Problems("mlenv.yaml", text)
    manifest = Manifest.from_dict(parse_yaml(text, "mlenv.yaml"), problems)
    assert not problems
    assert errors("manifest", manifest.to_dict()) == []


def full_lock() -> Lock:
    """A lock in memory with one entry of every kind and every optional field set."""
    target = LockTarget(
        name="linux-x86_64-cpu",
        facts={"os": "linux", "arch": "x86_64", "python": "3.11", "libc": {"glibc": "2.28"}},
        packages={
            "onnxruntime": LockedPackage(
                name="onnxruntime",
                kind="framework",
                version="1.20.1",
                recipe=D,
                file="builtin:frameworks/onnxruntime.yaml",
                variants=(("device", "cpu"),),
                requires=("numpy", "python"),
            )
        },
        pypi=(PypiPin(name="numpy", version="2.1.3", url="https://x/numpy.whl", sha256=H, size=9),),
        conda=(
            CondaPin(
                name="zlib",
                version="1.3",
                build="h0",
                subdir="linux-64",
                url="https://x/z.conda",
                sha256=H,
            ),
        ),
        artifacts=(
            ArtifactPin(
                name="model.tar",
                package="resnet50",
                url="https://x/model.tar",
                sha256=H,
                size=10,
                extract="tar",
                strip=1,
                path="model/m.onnx",
            ),
            ArtifactPin(name="table.csv", package="digits", member="pkg/t.csv", member_sha256=H),
            ArtifactPin(
                name="imagenet", package="imagenet", local_env="IMAGENET_DIR", tree_sha256=H
            ),
            ArtifactPin(name="weights", package="resnet50", url="https://x/w", md5="cd" * 16),
        ),
        system=(
            SystemPin(
                name="gcc",
                version="12.2.0",
                package="gcc",
                executables=("gcc",),
                args=("--version",),
                regex="(\\d+)",
            ),
        ),
    )
    return Lock(manifest=D, recipes=D, targets={target.name: target})


def test_a_full_lock_in_memory_validates() -> None:
    from mlenv.lock import loads_lock

    text = full_lock().dumps()
    assert loads_lock(text, "mlenv.lock").dumps() == text
    assert errors("lock", parse_yaml(text, "mlenv.lock")) == []


def test_a_resolved_lock_validates(tmp_path: Path, server: Any, helpers: Any) -> None:
    project = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    done = helpers.run_mlenv(project, "resolve")
    assert done.returncode == 0, str(done)
    data, _ = read_yaml(project.lock)
    (target,) = data["targets"].values()
    assert target["pypi"] and target["artifacts"] and target["packages"]
    assert errors("lock", data) == []
    assert errors("manifest", read_yaml(project.manifest)[0]) == []
    for path in sorted((project.root / "recipes").glob("*/*.yaml")):
        assert errors("recipe", read_yaml(path)[0]) == [], path


# -- (c) invalid documents are refused, by the schema and by the loader alike --------------------

RECIPE_DOC = {
    "name": "tool-x",
    "kind": "tool",
    "versions": ["1.0", {"version": "0.9", "requires": ["python >=3.10"]}],
    "variants": {"device": {"values": ["cpu", "cuda"], "default": "cpu"}},
    "requires": [{"require": "cuda-runtime >=12", "when": {"device": "cuda"}}],
    "supports": {"os": ["linux"], "cuda": ">=12"},
    "install": [{"pypi": ["x=={version}"], "when": {"device": "cpu"}}],
}


def _broken_recipes() -> list[tuple[str, dict[str, Any]]]:
    def edit(**changes: Any) -> dict[str, Any]:
        doc = copy.deepcopy(RECIPE_DOC)
        doc.update(changes)
        return doc

    sha = {"url": "https://x/a", "sha256": H}
    return [
        ("unknown key", edit(colour="red")),
        ("bad name", edit(name="Tool X")),
        ("unknown kind", edit(kind="library")),
        ("no kind", {k: v for k, v in RECIPE_DOC.items() if k != "kind"}),
        ("model field on a tool", edit(format="onnx")),
        ("dataset field on a model", edit(kind="model", samples=3)),
        ("unknown format", edit(kind="model", format="caffe")),
        ("two sources in one entry", edit(install=[{"pypi": ["x"], "artifact": sha}])),
        ("no source in an entry", edit(install=[{"when": {"device": "cpu"}}])),
        ("artifact without a hash", edit(install=[{"artifact": {"url": "https://x/a"}}])),
        ("artifact with a bad sha256", edit(install=[{"artifact": {"url": "u", "sha256": "xyz"}}])),
        ("artifact with a bad extract", edit(install=[{"artifact": {**sha, "extract": "rar"}}])),
        ("artifact unknown key", edit(install=[{"artifact": {**sha, "mirror": "m"}}])),
        ("empty pypi list", edit(install=[{"pypi": []}])),
        (
            "wheel-file without sha256",
            edit(install=[{"wheel-file": {"requirement": "a==1", "path": "p"}}]),
        ),
        (
            "detect runs a path",
            edit(install=[{"detect": {"executables": ["/bin/sh"], "regex": "(.*)"}}]),
        ),
        ("supports with a variant", edit(supports={"device": "cpu"})),
        ("versions mapping unknown key", edit(versions=[{"version": "1.0", "date": "2024"}])),
        ("variant without values", edit(variants={"device": {"default": "cpu"}})),
        ("tensor without dtype", edit(kind="model", inputs=[{"name": "x", "shape": [1]}])),
        ("preprocess without a name", edit(kind="dataset", preprocess={"scale": 16})),
    ]


def _loader_problems(model: Any, doc: Any) -> Problems:
    problems = Problems("file.yaml")
    model.from_dict(doc, problems)
    return problems


def test_the_valid_recipe_document_is_valid_for_both() -> None:
    assert errors("recipe", RECIPE_DOC) == []
    assert not _loader_problems(Recipe, RECIPE_DOC)


@pytest.mark.parametrize(("why", "doc"), _broken_recipes(), ids=[w for w, _ in _broken_recipes()])
def test_broken_recipes_are_refused(why: str, doc: dict[str, Any]) -> None:
    assert errors("recipe", doc), why
    assert _loader_problems(Recipe, doc), why


MANIFEST_DOC = {
    "name": "p",
    "requires": ["a"],
    "benchmark": {"model": "m", "dataset": "d", "backend": "b"},
}


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("unknown key", {"colour": "red"}),
        ("no requires", {"requires": None}),
        ("empty requires", {"requires": []}),
        ("bad target name", {"targets": ["../x"]}),
        ("prefer a non-name", {"prefer": {"engine": "Not A Name"}}),
        ("unknown scenario", {"benchmark": {**MANIFEST_DOC["benchmark"], "scenarios": ["Batch"]}}),
        ("unknown mode", {"benchmark": {**MANIFEST_DOC["benchmark"], "modes": ["fast"]}}),
        ("max-batch 0", {"benchmark": {**MANIFEST_DOC["benchmark"], "max-batch": 0}}),
        ("benchmark without a model", {"benchmark": {"dataset": "d", "backend": "b"}}),
        ("a list setting", {"benchmark": {**MANIFEST_DOC["benchmark"], "settings": {"x": [1]}}}),
    ],
)
def test_broken_manifests_are_refused(why: str, changes: dict[str, Any]) -> None:
    doc = {**MANIFEST_DOC, **changes}
    doc = {k: v for k, v in doc.items() if v is not None}
    assert errors("manifest", MANIFEST_DOC) == []
    assert errors("manifest", doc), why
    assert _loader_problems(Manifest, doc), why


TARGET_DOC = {"name": "t", "os": "linux", "arch": "x86_64", "python": "3.11"}


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("unknown key", {"gpu": "h100"}),
        ("unknown os", {"os": "plan9"}),
        ("python with a patch", {"python": "3.11.4"}),
        ("cuda without its version", {"accelerator": {"kind": "cuda"}}),
        ("unknown libc", {"libc": {"uclibc": "1"}}),
        ("bad name", {"name": "a/b"}),
    ],
)
def test_broken_targets_are_refused(why: str, changes: dict[str, Any]) -> None:
    doc = {**TARGET_DOC, **changes}
    assert errors("target", TARGET_DOC) == []
    assert errors("target", doc), why
    problems = Problems("t.yaml")
    Target.from_dict(doc, problems)
    assert problems, why


def _lock_doc() -> dict[str, Any]:
    return json.loads(json.dumps(full_lock().to_dict()))


def _broken_locks() -> list[tuple[str, dict[str, Any]]]:
    out = []

    def case(why: str, edit: Any) -> None:
        doc = _lock_doc()
        edit(doc, doc["targets"]["linux-x86_64-cpu"])
        out.append((why, doc))

    case("unknown top-level key", lambda d, t: d.update(extra=1))
    case("no inputs", lambda d, t: d.pop("inputs"))
    case("newer major version", lambda d, t: d.update(version=2))
    case("bad pypi sha256", lambda d, t: t["pypi"][0].update(sha256="00"))
    case("unknown pypi key", lambda d, t: t["pypi"][0].update(yanked=True))
    case("package without a recipe", lambda d, t: t["packages"]["onnxruntime"].pop("recipe"))
    case(
        "package name with a slash",
        lambda d, t: t["packages"].update({"a/b": t["packages"]["onnxruntime"]}),
    )
    case("strip out of range", lambda d, t: t["artifacts"][0].update(strip=99))
    case("bad extract", lambda d, t: t["artifacts"][0].update(extract="rar"))
    case("unknown target key", lambda d, t: t.update(notes="x"))
    case("a list fact", lambda d, t: t["facts"].update(os=["linux"]))
    case("bad target name", lambda d, t: d["targets"].update({"../up": t}))
    return out


@pytest.mark.parametrize(("why", "doc"), _broken_locks(), ids=[w for w, _ in _broken_locks()])
def test_broken_locks_are_refused(why: str, doc: dict[str, Any]) -> None:
    from mlenv.errors import LockError

    assert errors("lock", _lock_doc()) == []
    assert errors("lock", doc), why
    problems = Problems("mlenv.lock")
    try:
        Lock.from_dict(doc, problems)
    except LockError:
        return  # a newer major version is an error of its own
    assert problems, why
