"""Typed reads from parsed JSON that collect every problem, each under its dotted path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import HarnessError

_MAX_SHOWN = 6


class Problems:
    """Collects ``path: message`` lines so one error can name every problem of a file."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def raise_if_any(self, source: str, *, hint: str | None = None) -> None:
        if not self.items:
            return
        shown = "; ".join(self.items[:_MAX_SHOWN])
        more = len(self.items) - _MAX_SHOWN
        if more > 0:
            shown += f"; and {more} more"
        raise HarnessError(f"{source}: {shown}", hint=hint)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def section(
    p: Problems,
    value: object,
    path: str,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
) -> Mapping[str, object]:
    """An object with known keys: unknown keys and missing required keys are problems."""
    if not isinstance(value, dict):
        p.add(path or "(top level)", f"expected an object, found {type(value).__name__}")
        return {}
    for key in value:
        if key not in required and key not in optional:
            p.add(join(path, str(key)), "unknown key")
    for key in required:
        if key not in value:
            p.add(join(path, key), "missing")
    return value


def string(p: Problems, d: Mapping[str, object], key: str, path: str, default: str = "") -> str:
    value = d.get(key, default)
    if not isinstance(value, str) or (key in d and not value):
        p.add(join(path, key), f"expected a non-empty string, found {value!r}")
        return default
    return value


def optional_string(p: Problems, d: Mapping[str, object], key: str, path: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        p.add(join(path, key), f"expected a string, found {value!r}")
        return None
    return value


def integer(
    p: Problems, d: Mapping[str, object], key: str, path: str, *, minimum: int, default: int = 0
) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        p.add(join(path, key), f"expected an integer >= {minimum}, found {value!r}")
        return default
    return value


def choice(
    p: Problems, d: Mapping[str, object], key: str, path: str, allowed: tuple[str, ...]
) -> str:
    value = d.get(key)
    if key not in d:  # reported as missing by section()
        return allowed[0]
    if value not in allowed:
        p.add(join(path, key), f"{value!r} is not one of {', '.join(allowed)}")
        return allowed[0]
    assert isinstance(value, str)
    return value


def absolute_path(p: Problems, d: Mapping[str, object], key: str, path: str) -> Path:
    value = string(p, d, key, path)
    if value and not Path(value).is_absolute():
        p.add(join(path, key), f"expected an absolute path, found {value!r}")
    return Path(value)


def mapping(p: Problems, d: Mapping[str, object], key: str, path: str) -> dict[str, object]:
    value = d.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        p.add(join(path, key), f"expected an object, found {type(value).__name__}")
        return {}
    return dict(value)


def items(p: Problems, d: Mapping[str, object], key: str, path: str) -> list[object]:
    value = d.get(key, [])
    if not isinstance(value, list):
        p.add(join(path, key), f"expected a list, found {type(value).__name__}")
        return []
    return value


def number(p: Problems, d: Mapping[str, object], key: str, path: str, *, default: float) -> float:
    """A number > 0 (an integer is taken as a float)."""
    value = d.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < float("inf")
    ):
        p.add(join(path, key), f"expected a number > 0, found {value!r}")
        return default
    return float(value)


def boolean(p: Problems, d: Mapping[str, object], key: str, path: str) -> bool:
    value = d.get(key, False)
    if not isinstance(value, bool):
        p.add(join(path, key), f"expected true or false, found {value!r}")
        return False
    return value
