"""`when:` conditions and `supports:` (CONTRACTS §2): every key must hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .keyspec import Key, Shape, any_of, array, string
from .yamlio import Problems, join

_SCALAR = {"type": ["string", "integer", "number"]}
_VALUES = any_of(_SCALAR, array(_SCALAR, min_items=1))  # a value, or a list of accepted values
_SPECIFIER = string()  # PEP 440, e.g. '>=12,<13'
# the target facts a condition (and `supports:`) may test
TARGET_CONDITION_KEYS = (
    Key("os", _VALUES, "the target's operating system (linux, darwin, windows), or a list"),
    Key("arch", _VALUES, "the target's CPU architecture (x86_64, aarch64, arm64), or a list"),
    Key(
        "microarch",
        _VALUES,
        "an archspec microarchitecture, or a list; holds on it and on its descendants",
    ),
    Key("accelerator", _VALUES, "the accelerator's kind (none, cuda, rocm, …), or a list"),
    Key("cuda", _SPECIFIER, "a PEP 440 specifier on the target's CUDA version, e.g. '>=12'"),
    Key("python", _SPECIFIER, "a PEP 440 specifier on the target's Python, e.g. '>=3.10'"),
)
VERSION_CONDITION = Key("version", _SPECIFIER, "a PEP 440 specifier on the recipe's own version")
VARIANT_CONDITION_VALUES = _VALUES  # any other key: one of the recipe's variants
TARGET_SPEC_KEYS = tuple(k.name for k in TARGET_CONDITION_KEYS if k.schema is _SPECIFIER)
TARGET_VALUE_KEYS = tuple(k.name for k in TARGET_CONDITION_KEYS if k.schema is not _SPECIFIER)
TARGET_KEYS = TARGET_VALUE_KEYS + TARGET_SPEC_KEYS
CONDITION = Shape(
    title="condition",
    description="a `when:` condition: every key must hold; a key that is not a target fact or "
    "`version` names one of the recipe's variants (a value, or a list of accepted values)",
    keys=(*TARGET_CONDITION_KEYS, VERSION_CONDITION),
    extra_values=VARIANT_CONDITION_VALUES,
)
SUPPORTS = Shape(
    title="supports",
    description="the targets a recipe supports: every key must hold (target facts only)",
    keys=TARGET_CONDITION_KEYS,
)


def _microarch_at_least(actual: str, wanted: str) -> bool:
    """`microarch: x86_64_v3` holds on x86_64_v3 and on every descendant (zen3, icelake, …)."""
    if actual == wanted:
        return True
    try:
        import archspec.cpu

        targets = archspec.cpu.TARGETS
        if actual in targets and wanted in targets:
            return bool(targets[actual] >= targets[wanted])
    except Exception:  # unknown names compare by equality only
        return False
    return False


@dataclass(frozen=True, kw_only=True)
class Condition:
    """Values are tuples of accepted strings, or a SpecifierSet for `version`/`cuda`/`python`."""

    items: tuple[tuple[str, tuple[str, ...] | SpecifierSet], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def keys(self) -> set[str]:
        return {k for k, _ in self.items}

    def holds(
        self, *, variants: Mapping[str, str], version: Version | None, facts: Mapping[str, Any]
    ) -> bool:
        return all(self._holds(k, v, variants, version, facts) for k, v in self.items)

    def failing(
        self, *, variants: Mapping[str, str], version: Version | None, facts: Mapping[str, Any]
    ) -> list[str]:
        """Human descriptions of the keys that do not hold (for explanations)."""
        out = []
        for k, v in self.items:
            if not self._holds(k, v, variants, version, facts):
                shown = ", ".join(v) if isinstance(v, tuple) else str(v)
                actual = facts.get(k) if k in TARGET_KEYS else variants.get(k, version)
                out.append(f"{k} {shown} (target has {actual if actual is not None else 'none'})")
        return out

    @staticmethod
    def _holds(
        key: str,
        value: tuple[str, ...] | SpecifierSet,
        variants: Mapping[str, str],
        version: Version | None,
        facts: Mapping[str, Any],
    ) -> bool:
        if isinstance(value, SpecifierSet):
            if key == "version":
                actual: Any = version
            else:
                actual = facts.get(key)
            if actual is None:
                return False
            try:
                return value.contains(Version(str(actual)), prereleases=True)
            except InvalidVersion:
                return False
        if key in variants:
            return variants[key] in value
        if key == "microarch":
            actual_arch = facts.get("microarch")
            return actual_arch is not None and any(
                _microarch_at_least(actual_arch, w) for w in value
            )
        if key in TARGET_VALUE_KEYS:
            return str(facts.get(key, "none")) in value
        return False

    def to_data(self) -> dict[str, Any]:
        return {
            k: (str(v) if isinstance(v, SpecifierSet) else (v[0] if len(v) == 1 else list(v)))
            for k, v in self.items
        }


ALWAYS = Condition()


def parse_condition(
    data: Any,
    path: str,
    problems: Problems,
    *,
    variant_names: Mapping[str, tuple[str, ...]],
    allow_version: bool = True,
) -> Condition:
    if not isinstance(data, Mapping):
        problems.add(path, "a condition must be a mapping, e.g. {device: cuda} or {os: linux}")
        return Condition()
    items: list[tuple[str, tuple[str, ...] | SpecifierSet]] = []
    for key, value in data.items():
        key = str(key)
        at = join(path, key)
        if key in TARGET_SPEC_KEYS or (key == "version" and allow_version):
            try:
                items.append((key, SpecifierSet(str(value))))
            except InvalidSpecifier:
                problems.add(at, f"invalid version specifier {value!r} (PEP 440, e.g. '>=12')")
            continue
        if key not in variant_names and key not in TARGET_VALUE_KEYS:
            known = sorted(
                set(variant_names) | set(TARGET_KEYS) | ({"version"} if allow_version else set())
            )
            problems.add(at, f"unknown condition key {key!r} (known: {', '.join(known)})")
            continue
        values = value if isinstance(value, list) else [value]
        if not values or any(isinstance(v, bool | dict | list) or v is None for v in values):
            problems.add(at, "expected a value or a list of values")
            continue
        texts = tuple(str(v) for v in values)
        allowed = variant_names.get(key)
        if allowed is not None:
            unknown = [v for v in texts if v not in allowed]
            if unknown:
                problems.add(
                    at, f"{key} has no value {unknown[0]!r} (values: {', '.join(allowed)})"
                )
                continue
        items.append((key, texts))
    return Condition(items=tuple(sorted(items, key=lambda kv: kv[0])))
