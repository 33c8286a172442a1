"""The lock's artifact url rule: a path relative to the project may start with `../` (a file
beside the project) and hold spaces (legal in file names); it may never hold `.`/`..` inside
after its leading `../`, control characters or other whitespace, and a URL may not hold a
space. The lock writer folds recipe-relative paths (`lockfields.local_url`)."""

from __future__ import annotations

import pytest

from mlenv import lockfields as F
from mlenv.resolver.lockgen import pin_name


@pytest.mark.parametrize(
    "value",
    [
        "../My Model.onnx",
        "../../shared/models/x.onnx",
        "./recipes/models/x.onnx",
        "./my images",
        "/abs/with space/x.onnx",
        "https://example.org/x.onnx",
        "builtin:models/x.onnx",
    ],
)
def test_accepted(value: str) -> None:
    assert F.url(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "./recipes/models/../../../My Model.onnx",  # not folded: `..` inside
        "./a/../../x",
        "../a/./b",
        "../a\tb",
        "../a\nb",
        "../a\u2028b",
        "../a\x7fb",
        "https://example.org/a b",
        "builtin:a b",
        "builtin:../../etc/passwd",
        "a b",
        "",
    ],
)
def test_refused(value: str) -> None:
    assert F.url(value) is not None


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("./recipes/models/../../../My Model.onnx", "../My Model.onnx"),
        ("./recipes/models/../../data.npz", "./data.npz"),
        ("./recipes/datasets/../../../../x/my images", "../../x/my images"),
        ("./recipes/models/x.onnx", "./recipes/models/x.onnx"),
        ("builtin:models/x.onnx", "builtin:models/x.onnx"),
        ("https://h/a/../b", "https://h/a/../b"),
    ],
)
def test_the_writer_folds_relative_paths(raw: str, folded: str) -> None:
    assert F.local_url(raw) == folded
    assert F.url(F.local_url(raw)) is None


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("../My Model.onnx", "My_Model.onnx"),
        ("./my images", "my_images"),
        ("../.hidden", "hidden"),
        ("./x.onnx", "x.onnx"),
        ("../...", "pkg"),
    ],
)
def test_the_placed_name_is_one_safe_component(url: str, name: str) -> None:
    assert pin_name(url, "pkg") == name
