"""`when:` conditions and `supports:` (CONTRACTS §2): every key must hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .yamlio import Problems, join

TARGET_VALUE_KEYS = ("os", "arch", "microarch", "accelerator")
TARGET_SPEC_KEYS = ("cuda", "python")
TARGET_KEYS = TARGET_VALUE_KEYS + TARGET_SPEC_KEYS


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
