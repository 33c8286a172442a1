"""The direct lock writer (mlenv/lockwrite.py) writes exactly what PyYAML's emitter writes.

PyYAML (`pyyaml_dump`, the writer mlenv.lock always came from) is the oracle: every lock, and
every string in every place a lock can hold one, must come out byte-identical, and re-parse to
the same data.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_core_lock import locks, sample_lock

from mlenv.lock import HEADER, Lock
from mlenv.lockwrite import Flow, dump, pyyaml_dump

# strings that need quoting, or look as if they might: indicators, numbers, booleans, null,
# timestamps, sexagesimals, document markers, spaces, quotes, non-ASCII, control characters
TRICKY = [
    "",
    " ",
    "-",
    "--",
    "---",
    "...",
    "...x",
    "-x",
    "- x",
    ":",
    "a:",
    "a:b",
    "a: b",
    "?",
    "? x",
    "#",
    "a #b",
    "a#b",
    "1",
    "1.0",
    "3.10",
    "1e3",
    "0x1F",
    "0o17",
    "1_000",
    "1:20",
    "190:20:30.15",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "true",
    "False",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "<<",
    "=",
    "!tag",
    "&anchor",
    "*alias",
    "|",
    ">",
    "%x",
    "@x",
    "`x",
    "'",
    "it's",
    '"',
    'say "hi"',
    "a,b",
    "[x]",
    "{x}",
    "a]",
    "trailing ",
    " leading",
    "tab\there",
    "caf\u00e9",
    "\u00e9t\u00e9",
    "\u2028",
    "\x85",
    "\x00",
    "\x07bell",
    "\ufeffbom",
    "https://host:8080/a/b.whl#sha256=00",
    "sha256:" + "0" * 64,
    "./recipes/tools/x.yaml",
    "builtin:models/x.onnx",
    "x86_64-manylinux_2_36",
    "+1",
    "-1",
    "0",
    "00",
    "08",
]

tricky = st.sampled_from(TRICKY) | st.text(max_size=12) | st.text("-.:#?,[]{}'\" 0aetn", max_size=6)
scalars = tricky | st.integers(-(10**12), 10**12) | st.booleans() | st.none() | st.floats()


def shaped(s: object) -> dict[str, object]:
    """`s` in every position a lock can hold a value (block and flow, key and value, list)."""
    key = s if isinstance(s, str) else "k"
    return {
        "version": 1,
        "inputs": {"manifest": s, key: "x"},
        "targets": {
            key: {
                "facts": Flow({"os": s, key: Flow({key: s}), "n": 1}),
                "packages": {key: Flow({"kind": s, key: [s, "a"], "variants": {key: s}})},
                "pypi": [Flow({"name": s}), Flow({key: [s]})],
                "conda": [],
                "empty": {},
            }
        },
    }


def test_every_tricky_string_matches_pyyaml() -> None:
    for s in TRICKY:
        data = shaped(s)
        text = dump(data)
        assert text == pyyaml_dump(data), repr(s)
        if s.isprintable():  # PyYAML itself reads back \x85, \u2028 … as other characters
            assert yaml.safe_load(text) == data, repr(s)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scalars)
def test_any_scalar_matches_pyyaml(s: object) -> None:
    data = shaped(s)
    text = dump(data)
    assert text == pyyaml_dump(data)
    if s == s and (not isinstance(s, str) or s.isprintable()):  # NaN never equals itself
        assert yaml.safe_load(text) == data


def test_sample_lock_matches_pyyaml() -> None:
    lock = sample_lock()
    assert lock.dumps() == HEADER + pyyaml_dump(lock.to_dict())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(locks())
def test_generated_locks_match_pyyaml(lock: Lock) -> None:
    text = lock.dumps()
    assert text == HEADER + pyyaml_dump(lock.to_dict())
    assert yaml.safe_load(text) == yaml.safe_load(HEADER + pyyaml_dump(lock.to_dict()))


def test_long_lines_and_unknown_shapes_go_to_pyyaml() -> None:
    long = {
        "version": 1,
        "targets": {"t": {"facts": Flow({f"k{i}": "v" * 50 for i in range(300)})}},
    }
    assert dump(long) == pyyaml_dump(long)
    nested = {"version": 1, "items": [{"a": 1, "b": {"c": 2}}]}  # a block mapping in a list
    assert dump(nested) == pyyaml_dump(nested)
    assert dump({"multi": "two\nlines", "k": Flow({"x": "a\nb"})}) == pyyaml_dump(
        {"multi": "two\nlines", "k": Flow({"x": "a\nb"})}
    )
