"""The lock writer: emits the lock's known shape directly, byte-for-byte what PyYAML writes.

`mlenv.lock` is mlenv's own format with a fixed shape (mlenv/lock.py): block mappings down to
the entries, each entry one flow mapping on one line, lists of entries as indentless block
sequences. PyYAML's pure-Python emitter analyses every scalar and writes it character by
character (over a second for a 2,000-recipe lock); this writer walks the same data once and
decides each string's quoting with PyYAML's own rules, in a fast path for the common alphabet
(names, versions, digests, URLs, labels) and by asking PyYAML about one scalar, memoized, for
anything else. Shapes it does not know (a mapping inside a block list, a very long line, a
multi-line string) are handed to PyYAML whole, so the output is always what PyYAML writes.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class Flow(dict):  # type: ignore[type-arg,unused-ignore]
    """A mapping written on one line (one lock entry per line keeps diffs readable)."""


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(
    Flow,
    lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True),
)

_STR = "tag:yaml.org,2002:str"
# strings PyYAML writes plain in block context and plain or single-quoted in flow context
_SAFE = re.compile(r"[A-Za-z0-9_./+\-][A-Za-z0-9_./+\-:]*\Z")
_MAX_LINE = 9_000  # PyYAML wraps past width=10,000: longer lines go to PyYAML whole
_MAX_KEY = 120  # PyYAML writes keys of 128+ characters as `? key`
_MARKS = ("---", "...")  # document markers at the start: PyYAML quotes them
_resolver = yaml.resolver.Resolver()
_memo: dict[tuple[type, bool, bool, Any], str] = {}


class _Unknown(Exception):
    """A shape or value this writer leaves to PyYAML."""


def pyyaml_dump(data: Any) -> str:
    """The reference writer: what `mlenv.lock` always held (and the fallback here)."""
    text: str = yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=10_000,
        allow_unicode=True,
    )
    return text


def dump(data: dict[str, Any]) -> str:
    """The YAML text of a lock's `to_dict()` (a block mapping at the root)."""
    out: list[str] = []
    try:
        if not isinstance(data, dict) or isinstance(data, Flow) or not data:
            raise _Unknown
        _block_mapping(data, "", out)
    except _Unknown:
        return pyyaml_dump(data)
    text = "".join(out)
    if any(len(line) > _MAX_LINE for line in text.split("\n")):
        return pyyaml_dump(data)
    return text


def _block_mapping(data: dict[str, Any], indent: str, out: list[str]) -> None:
    for key, value in data.items():
        k = _scalar(key, flow=False, key=True)
        if isinstance(value, dict) and value and not isinstance(value, Flow):
            out.append(f"{indent}{k}:\n")
            _block_mapping(value, indent + "  ", out)
        elif isinstance(value, list) and value:
            out.append(f"{indent}{k}:\n")
            for item in value:  # indentless: `- ` at the key's own indent
                if isinstance(item, dict | list) and not isinstance(item, Flow):
                    raise _Unknown
                out.append(f"{indent}- {_flow(item)}\n")
        else:
            out.append(
                f"{indent}{k}: {_flow(value) if isinstance(value, dict | list) else _scalar(value, flow=False, key=False)}\n"
            )


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{_scalar(k, flow=True, key=True)}: {_flow(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        if isinstance(value, tuple):
            raise _Unknown  # SafeDumper refuses tuples: let it say so
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value, flow=True, key=False)


def _scalar(value: Any, *, flow: bool, key: bool) -> str:
    if type(value) is str:
        if _SAFE.match(value) and value != "-" and value[-1] != ":" and value[:3] not in _MARKS:
            plain = _resolver.resolve(yaml.ScalarNode, value, (True, False)) == _STR
            if plain and not (flow and ":" in value):
                return value
            return f"'{value}'"
        if key and len(value) > _MAX_KEY:
            raise _Unknown
    elif type(value) is int:
        return str(value)
    # False == 0 == 0.0 and -0.0 == 0.0: the type and the repr tell them apart
    memo = (type(value), flow, key, repr(value) if type(value) is float else value)
    try:
        return _memo[memo]
    except KeyError:
        pass
    except TypeError as e:  # unhashable: not a scalar
        raise _Unknown from e
    text = _ask_pyyaml(value, flow=flow, key=key)
    if len(_memo) < 100_000:
        _memo[memo] = text
    return text


def _ask_pyyaml(value: Any, *, flow: bool, key: bool) -> str:
    """One scalar as PyYAML writes it in this context (a flow or block key or value)."""
    if value is not None and type(value) not in (str, int, float, bool):
        raise _Unknown
    if flow:
        doc = Flow({value: 0}) if key else Flow({"k": value})
        text = pyyaml_dump([doc])
        body = text[3:-2]  # `- {key: 0}\n` or `- {k: value}\n`
        part = body.removesuffix(": 0") if key else body.removeprefix("k: ")
        again = f"- {{{part}: 0}}\n" if key else f"- {{k: {part}}}\n"
    else:
        text = pyyaml_dump({value: 0} if key else {"k": value})
        part = text.removesuffix(": 0\n") if key else text[3:-1]
        again = f"{part}: 0\n" if key else f"k: {part}\n"
    if "\n" in part or part.startswith("? ") or text != again:
        raise _Unknown  # multi-line, or a `? ` complex key: context-dependent
    return part
