"""PEP 751 `pylock.toml` files built and validated with `packaging.pylock`, written as TOML.

Two writers use it: the preferences file mlenv hands `uv pip compile` (the earlier pins, so a
re-resolve changes as little as it can) and `mlenv export --format pylock`. Each document is
checked by `packaging.pylock.Pylock.from_dict` before it is written, and the text is what
`Pylock.to_dict()` gives, so what mlenv writes is a valid pylock by packaging's reading.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.pylock import Pylock, PylockValidationError
from packaging.utils import canonicalize_name

from .errors import MlenvError
from .lock import PypiPin


class PylockError(MlenvError):
    """A pylock document that packaging's validator refuses (a bug in its writer or its lock)."""

    kind = "pylock"


def file_entry(pin: PypiPin) -> dict[str, Any]:
    """The `[[packages.wheels]]` / `[packages.sdist]` table of a pinned file."""
    entry: dict[str, Any] = {"name": pin.filename, "url": pin.url}
    if pin.size is not None:
        entry["size"] = pin.size
    entry["hashes"] = {"sha256": pin.sha256}
    return entry


def package_entry(pin: PypiPin, index: str | None = None) -> dict[str, Any]:
    """The `[[packages]]` table of one pin: its one file, a wheel or an sdist."""
    package: dict[str, Any] = {"name": canonicalize_name(pin.name), "version": pin.version}
    if index is not None:
        package["index"] = index
    if pin.filename.endswith(".whl"):
        package["wheels"] = [file_entry(pin)]
    else:
        package["sdist"] = file_entry(pin)
    return package


def build_pylock(data: Mapping[str, Any], *, what: str = "pylock.toml") -> Pylock:
    """`data` as a validated `Pylock` (PylockError when packaging refuses it)."""
    try:
        pylock = Pylock.from_dict(data)
        pylock.validate()
    except PylockValidationError as e:
        raise PylockError(
            f"mlenv built an invalid {what}",
            why=str(e),
            hint="report this as a bug; re-create the lock with `mlenv resolve` meanwhile",
        ) from e
    return pylock


def pylock_text(pylock: Pylock, comments: Iterable[str] = ()) -> str:
    """The TOML text of a validated pylock, after `comments` (each a `# …` line)."""
    return dumps(pylock.to_dict(), comments)


def preferences_toml(pins: Sequence[PypiPin]) -> str:
    """A valid pylock.toml of earlier pins, for `uv pip compile -o` to prefer."""
    data = {
        "lock-version": "1.0",
        "created-by": "mlenv",
        "packages": [package_entry(p) for p in sorted(pins, key=lambda p: p.name)],
    }
    return pylock_text(build_pylock(data, what="preferences file for uv"))


# -- a small TOML writer (the standard library reads TOML but does not write it) -------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _string(str(value))


def _is_tables(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
    )


def _is_leaf(value: Any) -> bool:
    """A mapping written inline (`hashes = {sha256 = "…"}`): it holds no tables."""
    return isinstance(value, Mapping) and not any(
        isinstance(v, Mapping) or _is_tables(v) for v in value.values()
    )


def _nested(key: str, value: Any, path: list[str]) -> bool:
    """Written as a table of its own: lists of mappings, mappings holding tables, and `tool`
    (and each tool's table under it)."""
    if _is_tables(value):
        return True
    return isinstance(value, Mapping) and (
        not _is_leaf(value) or key == "tool" or path[-1:] == ["tool"]
    )


def _table(path: list[str], data: Mapping[str, Any], lines: list[str], header: str) -> None:
    values = {k: v for k, v in data.items() if v is not None}
    nested = {k: v for k, v in values.items() if _nested(k, v, path)}
    plain = [f"{_key(k)} = {_value(v)}" for k, v in values.items() if k not in nested]
    if header.startswith("[[") or (header and (plain or not nested)):
        lines.append(header)
    if plain:
        lines += plain
    if plain or header.startswith("[["):
        lines.append("")
    for k, v in nested.items():
        sub = [*path, k]
        dotted = ".".join(_key(p) for p in sub)
        if _is_tables(v):
            for item in v:
                _table(sub, item, lines, f"[[{dotted}]]")
        else:
            _table(sub, v, lines, f"[{dotted}]")


def dumps(data: Mapping[str, Any], comments: Iterable[str] = ()) -> str:
    """`data` as TOML: scalars and leaf mappings inline, other mappings and lists of
    mappings as tables, keys in their order; None values left out."""
    lines = [*comments]
    if lines:
        lines.append("")
    _table([], data, lines, "")
    return "\n".join(lines).rstrip("\n") + "\n"
