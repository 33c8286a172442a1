"""Each mapping of the YAML formats declared once: its keys, their JSON types, descriptions.

A model module declares one `Shape` per mapping of its format (`MANIFEST`, `BENCHMARK`,
`RECIPE`, …). The loader takes that mapping's allowed keys from it (`Section(…, SHAPE.names)`)
and `mlenv/schema.py` builds the published JSON Schema (`schemas/*.schema.json`) from the same
declaration, so a key added to a loader shows up in the schema. The JSON value of a key is a
plain JSON Schema fragment built with the helpers below; a `Shape` inside a fragment stands for
that mapping (the schema builder turns it into a `$ref` to its definition).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a mapping: its name in the file, the JSON Schema of its value, what it is."""

    name: str
    schema: Json | Shape = field(hash=False)
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """One mapping of a format: its keys (no others are allowed, unless `extra_values`)."""

    title: str  # its name among the schema's definitions
    description: str
    keys: tuple[Key, ...]
    extra_values: Json | None = field(default=None, hash=False)  # the schema of other keys
    rules: tuple[Json, ...] = field(default=(), hash=False)  # more JSON Schema (allOf)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def key(self, name: str) -> Key:
        return next(k for k in self.keys if k.name == name)


def anchored(regex: re.Pattern[str] | str) -> str:
    """A Python `fullmatch` pattern as a JSON Schema pattern (ECMA-262 searches anywhere)."""
    text = regex if isinstance(regex, str) else regex.pattern
    return f"^(?:{text})$"


def string(*, pattern: re.Pattern[str] | str | None = None, enum: tuple[str, ...] = ()) -> Json:
    out: Json = {"type": "string"}
    if pattern is not None:
        out["pattern"] = anchored(pattern)
    if enum:
        out["enum"] = list(enum)
    return out


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Json:
    out: Json = {"type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def number() -> Json:
    return {"type": "number"}


def array(items: Any, *, min_items: int = 0) -> Json:
    out: Json = {"type": "array", "items": items}
    if min_items:
        out["minItems"] = min_items
    return out


def strings(*, pattern: re.Pattern[str] | str | None = None, enum: tuple[str, ...] = ()) -> Json:
    return array(string(pattern=pattern, enum=enum))


def mapping(values: Any, *, key_pattern: re.Pattern[str] | str | None = None) -> Json:
    """A mapping of free keys (names chosen by the author) to values of one schema."""
    out: Json = {"type": "object", "additionalProperties": values}
    if key_pattern is not None:
        out["propertyNames"] = {"pattern": anchored(key_pattern)}
    return out


def any_of(*schemas: Any) -> Json:
    return {"anyOf": list(schemas)}
