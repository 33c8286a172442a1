"""mlenv.manifest_edit: edits keep every comment, blank line, key order and the user's
formatting; each case is data: (manifest text, edit, expected text)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import manifest_edit as me
from mlenv.errors import FormatError, UsageError

Edit = Callable[[str], me.ManifestEdit]

BLOCK = """\
# top comment
name: x  # the name

requires:   # the list
  # before the first
  - digits   # d
  - onnxruntime >=1.17
  # after the last
# before benchmark
"""

CASES: list[tuple[str, str, Edit, str]] = [
    (
        "block: append keeps every comment",
        BLOCK,
        lambda t: me.add_requirements(t, ["numpy"]),
        BLOCK.replace("  - onnxruntime >=1.17\n", "  - onnxruntime >=1.17\n  - numpy\n"),
    ),
    (
        "block: same name is replaced in place",
        BLOCK,
        lambda t: me.add_requirements(t, ["digits >=1.0"]),
        BLOCK.replace("  - digits   # d", "  - digits >=1.0   # d"),
    ),
    (
        "block: remove drops the line only",
        BLOCK,
        lambda t: me.remove_requirements(t, ["onnxruntime"]),
        BLOCK.replace("  - onnxruntime >=1.17\n", ""),
    ),
    (
        "flow: append, quoting where needed",
        "name: x\nrequires: [a, b]  # c\n",
        lambda t: me.add_requirements(t, ["c >=1,<2", "d[device=cuda]"]),
        'name: x\nrequires: [a, b, "c >=1,<2", "d[device=cuda]"]  # c\n',
    ),
    (
        "flow: remove the first and the last",
        "name: x\nrequires: [a, b, c]\n",
        lambda t: me.remove_requirements(t, ["a", "c"]),
        "name: x\nrequires: [b]\n",
    ),
    (
        "CRLF is kept",
        "name: x\r\nrequires:\r\n  - a\r\n",
        lambda t: me.add_requirements(t, ["b"]),
        "name: x\r\nrequires:\r\n  - a\r\n  - b\r\n",
    ),
    (
        "no trailing newline stays so (add)",
        "name: x\nrequires:\n  - a",
        lambda t: me.add_requirements(t, ["b"]),
        "name: x\nrequires:\n  - a\n  - b",
    ),
    (
        "no trailing newline stays so (remove)",
        "name: x\nrequires:\n  - a\n  - b",
        lambda t: me.remove_requirements(t, ["b"]),
        "name: x\nrequires:\n  - a",
    ),
    (
        "ensure: a name already there is left as written",
        "name: x\nrequires: [a]\n",
        lambda t: me.ensure_requirements(t, ["a >=2", "b"]),
        "name: x\nrequires: [a, b]\n",
    ),
    (
        "recipes: added after name:",
        "# c\nname: x  # n\nrequires: [a]\n",
        me.ensure_recipes,
        "# c\nname: x  # n\nrecipes: [./recipes]\nrequires: [a]\n",
    ),
    (
        "recipes: already there (other spelling)",
        "name: x\nrecipes:\n  - recipes/\nrequires: [a]\n",
        me.ensure_recipes,
        "name: x\nrecipes:\n  - recipes/\nrequires: [a]\n",
    ),
    (
        "recipes: appended to a block list",
        "name: x\nrecipes:\n  - ../shared  # s\nrequires: [a]\n",
        me.ensure_recipes,
        "name: x\nrecipes:\n  - ../shared  # s\n  - ./recipes\nrequires: [a]\n",
    ),
    (
        "benchmark: created at the end",
        "name: x\nrequires: [m, d, b]\n# end\n",
        lambda t: me.set_benchmark(t, {"model": "m", "dataset": "d", "backend": "b"}),
        "name: x\nrequires: [m, d, b]\n# end\nbenchmark:\n  model: m\n  dataset: d\n  backend: b\n",
    ),
    (
        "benchmark: a missing key goes after the last, before trailing comments",
        "name: x\nrequires: [a]\nbenchmark:\n  model: m  # mine\n  backend: b\n  # tail\n",
        lambda t: me.set_benchmark(t, {"dataset": "d"}),
        "name: x\nrequires: [a]\nbenchmark:\n  model: m  # mine\n  backend: b\n  dataset: d\n"
        "  # tail\n",
    ),
    (
        "benchmark: flow mapping",
        "name: x\nrequires: [a]\nbenchmark: {model: m, backend: b}  # c\n",
        lambda t: me.set_benchmark(t, {"dataset": "d"}),
        "name: x\nrequires: [a]\nbenchmark: {model: m, backend: b, dataset: d}  # c\n",
    ),
]


@pytest.mark.parametrize(("label", "before", "edit", "after"), CASES, ids=[c[0] for c in CASES])
def test_edit(label: str, before: str, edit: Edit, after: str) -> None:
    result = edit(before)
    assert result.text == after, label
    me.check_manifest(result.text)  # still a valid manifest
    assert result.changed == (before != after)


def test_requires_created_when_absent() -> None:
    # a manifest without requires: is invalid; the edit makes it valid
    result = me.add_requirements("name: x\n# c\n", ["a"])
    assert result.text == "name: x\n# c\nrequires:\n  - a\n"
    assert result.added == ("requires:", "  - a")


def test_user_value_is_kept_and_reported() -> None:
    text = "name: x\nrequires: [a]\nbenchmark: {model: mine, dataset: d, backend: b}\n"
    result = me.set_benchmark(text, {"model": "other", "dataset": "d"})
    assert result.text == text and not result.changed
    assert result.kept == (("model", "mine", "other"),)


@pytest.mark.parametrize(
    ("text", "call", "error", "says"),
    [
        ("name: x\nrequires: [a, b]\n", lambda t: me.remove_requirements(t, ["c"]), UsageError,
         "requires: lists a, b"),
        ("name: x\nrequires: [a]\n", lambda t: me.remove_requirements(t, ["a"]), UsageError,
         "only requirement"),
        ("name: x\nrequires: [a]\n", lambda t: me.add_requirements(t, ["B!"]), UsageError,
         "not a requirement"),
        ("name: x\nrequires: a\n", lambda t: me.add_requirements(t, ["b"]), FormatError,
         "is not a list"),
        ("name: [x\n", lambda t: me.add_requirements(t, ["b"]), FormatError, "mlenv.yaml"),
    ],
)  # fmt: skip
def test_errors(text: str, call: Edit, error: type[Exception], says: str) -> None:
    with pytest.raises(error) as info:
        call(text)
    assert says in str(info.value)


def test_an_edit_that_breaks_the_manifest_is_refused() -> None:
    with pytest.raises(FormatError):
        me.set_benchmark("name: x\nrequires: [a]\n", {"model": "m"})  # dataset/backend missing


def test_names_are_parsed_as_requirements() -> None:
    text = 'name: x\nrequires: ["onnxruntime[device=cpu] >=1", numpy]\n'
    assert me.requirement_names(text) == ["onnxruntime", "numpy"]
    assert me.remove_requirements(text, ["onnxruntime"]).text == "name: x\nrequires: [numpy]\n"


_LINES = ["name: x", "requires:", "  - a", "  - b >=1"]


@settings(max_examples=60, deadline=None)
@given(
    comments=st.lists(st.booleans(), min_size=len(_LINES) + 1, max_size=len(_LINES) + 1),
    trailing=st.lists(st.booleans(), min_size=len(_LINES), max_size=len(_LINES)),
    nl=st.sampled_from(["\n", "\r\n"]),
    final=st.booleans(),
)
def test_add_then_remove_is_byte_identical(
    comments: list[bool], trailing: list[bool], nl: str, final: bool
) -> None:
    """Comments on their own line before any line, after any value, CRLF or LF, with or
    without a final newline: adding then removing a requirement gives the text back."""
    lines = []
    for i, line in enumerate(_LINES):
        if comments[i]:
            lines.append(("  " if i > 1 else "") + f"# comment {i}")
        lines.append(line + (f"  # after {i}" if trailing[i] else ""))
    if comments[-1]:
        lines.append("# the end")
    text = nl.join(lines) + (nl if final else "")
    added = me.add_requirements(text, ["c <3"])
    assert me.requirement_names(added.text) == ["a", "b", "c"]
    assert added.added == ("  - c <3",) and not added.removed
    assert me.remove_requirements(added.text, ["c"]).text == text
