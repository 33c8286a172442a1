"""`mlenv tree` / `mlenv why` over small locks: each case is a lock section and the expected text."""

from __future__ import annotations

import textwrap

import pytest

from mlenv.lock import ArtifactPin, CondaPin, LockedPackage, LockTarget, PypiPin
from mlenv.ops import tree as T

D = "sha256:" + "0" * 64
SHA = "ab" * 32


def pkg(name: str, kind: str = "framework", *requires: str, **variants: str) -> LockedPackage:
    return LockedPackage(
        name=name,
        kind=kind,
        version="1.0",
        recipe=D,
        file=f"./recipes/{kind}s/{name}.yaml",
        requires=requires,
        variants=tuple(sorted(variants.items())),
    )


def section(*packages: LockedPackage, **pins: object) -> LockTarget:
    return LockTarget(name="t", facts={}, packages={p.name: p for p in packages}, **pins)  # type: ignore[arg-type]


def pypi(name: str, version: str = "2.0") -> PypiPin:
    return PypiPin(name=name, version=version, url=f"https://x/{name}.whl", sha256=SHA)


DIAMOND = section(
    pkg("app", "model", "ort", "numpyish"),
    pkg("ort", "framework", "numpyish", device="cpu"),
    pkg("numpyish", "tool"),
    pypi=(pypi("onnxruntime", "1.20.1"), pypi("numpy"), pypi("protobuf")),
    conda=(
        CondaPin(
            name="libgcc",
            version="14.2",
            build="h1",
            subdir="linux-64",
            url="https://c/x",
            sha256=SHA,
        ),
    ),
    artifacts=(
        ArtifactPin(name="m.onnx", package="app", url="./recipes/models/m.onnx", sha256=SHA),
    ),
)
DIRECT = {"ort": ["onnxruntime"], "numpyish": ["numpy", "libgcc"]}

TREES = [
    (
        "diamond, repeated subtree marked",
        DIAMOND,
        ["app"],
        None,
        """
        app 1.0
        ├── ort 1.0 [device=cpu]
        │   ├── numpyish 1.0
        │   │   ├── libgcc 14.2 (conda: h1)
        │   │   └── numpy 2.0 (pypi)
        │   └── onnxruntime 1.20.1 (pypi)
        ├── numpyish 1.0 (*)
        └── m.onnx (artifact: sha256:abababababab)
        (pypi dependencies)
        └── protobuf 2.0 (pypi)
        """,
    ),
    (
        "depth 1",
        DIAMOND,
        ["app"],
        1,
        """
        app 1.0
        ├── ort 1.0 [device=cpu]
        ├── numpyish 1.0
        └── m.onnx (artifact: sha256:abababababab)
        (pypi dependencies)
        └── protobuf 2.0 (pypi)
        """,
    ),
    (
        "two roots, a package without leaves",
        section(pkg("a", "model", "b"), pkg("b", "tool")),
        ["b", "a"],
        None,
        """
        b 1.0
        a 1.0
        └── b 1.0
        """,
    ),
    (
        "a cycle does not loop",
        section(pkg("a", "tool", "b"), pkg("b", "tool", "a")),
        ["a"],
        None,
        """
        a 1.0
        └── b 1.0
            └── a 1.0 (*)
        """,
    ),
]


@pytest.mark.parametrize(
    ("case", "sec", "roots", "depth", "expected"), TREES, ids=[t[0] for t in TREES]
)
def test_tree_text(
    case: str, sec: LockTarget, roots: list[str], depth: int | None, expected: str
) -> None:
    g = T.graph(sec, roots, DIRECT)
    assert T.render_tree(T.build_tree(g, depth)) == textwrap.dedent(expected).strip().splitlines()


WHYS = [
    ("numpyish", ["app 1.0 → ort 1.0 [device=cpu] → numpyish 1.0", "app 1.0 → numpyish 1.0"]),
    (
        "numpy",
        [
            "app 1.0 → ort 1.0 [device=cpu] → numpyish 1.0 → numpy 2.0 (pypi)",
            "app 1.0 → numpyish 1.0 → numpy 2.0 (pypi)",
        ],
    ),
    (
        "NumPy",
        [
            "app 1.0 → ort 1.0 [device=cpu] → numpyish 1.0 → numpy 2.0 (pypi)",
            "app 1.0 → numpyish 1.0 → numpy 2.0 (pypi)",
        ],
    ),
    ("m.onnx", ["app 1.0 → m.onnx (artifact: sha256:abababababab)"]),
    ("protobuf", ["(pypi dependencies) → protobuf 2.0 (pypi)"]),
    ("app", ["app 1.0"]),
    ("nothing", []),
]


@pytest.mark.parametrize(("name", "expected"), WHYS, ids=[w[0] for w in WHYS])
def test_why_chains(name: str, expected: list[str]) -> None:
    g = T.graph(DIAMOND, ["app"], DIRECT)
    assert T.render_chains(T.chains(g, name)) == expected


def test_json_nodes_nest() -> None:
    g = T.graph(DIAMOND, ["app"], DIRECT)
    app = T.build_tree(g)[0].to_dict()
    assert app["name"] == "app" and app["kind"] == "model"
    assert [c["name"] for c in app["children"]] == ["ort", "numpyish", "m.onnx"]
    assert app["children"][1]["repeated"] is True
    assert app["children"][0]["variants"] == {"device": "cpu"}


def test_names_for_suggestions() -> None:
    g = T.graph(DIAMOND, ["app"], DIRECT)
    assert T.names(g) == [
        "app",
        "libgcc",
        "m.onnx",
        "numpy",
        "numpyish",
        "onnxruntime",
        "ort",
        "protobuf",
    ]


def test_spec_and_requirement_names() -> None:
    assert T._spec_name("conda-forge::libgcc >=14") == "libgcc"
    assert T._spec_name("numpy=2.1") == "numpy"
    assert T._req_name("onnxruntime==1.20.1; python_version>'3'") == "onnxruntime"
