"""Requirement strings: `NAME[VARIANT=VALUE,...] SPECIFIER` (CONTRACTS §4)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import RequirementError

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_VARIANT_RE = re.compile(r"\s*([a-z0-9][a-z0-9_-]*)\s*=\s*([A-Za-z0-9][A-Za-z0-9._+-]*)\s*")


def caret(text: str, start: int, end: int | None = None) -> str:
    """The text and a caret line under [start, end)."""
    width = max(1, (end if end is not None else len(text)) - start)
    return f"{text}\n{' ' * start}{'^' * width}"


@dataclass(frozen=True, kw_only=True)
class Requirement:
    name: str
    variants: tuple[tuple[str, str], ...] = ()
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    _allows: dict[Version, bool] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    @property
    def variant_map(self) -> dict[str, str]:
        return dict(self.variants)

    def allows(self, version: Version) -> bool:
        known = self._allows.get(version)
        if known is None:  # requirement objects are shared, so this memo pays off across a solve
            known = self._allows[version] = self.specifier.contains(version, prereleases=True)
        return known

    def __str__(self) -> str:
        out = self.name
        if self.variants:
            out += "[" + ",".join(f"{k}={v}" for k, v in self.variants) + "]"
        spec = str(self.specifier)
        if spec:
            out += " " + ",".join(sorted(spec.split(",")))
        return out


def parse_requirement(text: str, where: str = "") -> Requirement:
    """Parse one requirement string; errors point a caret at the bad span.

    Requirements are frozen, so equal strings share one parsed object (recipes repeat the
    same few requirements many times; sharing also keeps the pickled index small)."""
    return _parse_cached(text) if not where else _parse(text, where)


@functools.lru_cache(maxsize=65536)
def _parse_cached(text: str) -> Requirement:
    return _parse(text, "")


def _parse(text: str, where: str) -> Requirement:
    s = text
    m = NAME_RE.match(s.lstrip())
    offset = len(s) - len(s.lstrip())
    if not m:
        _fail(text, offset, None, "expected a recipe name ([a-z0-9][a-z0-9._-]*)", where)
    assert m is not None
    name = m.group(0)
    pos = offset + m.end()
    while pos < len(s) and s[pos] == " " and s[pos:].lstrip().startswith("["):
        pos += 1  # `name [k=v]`, as PEP 508 allows before extras
    variants: dict[str, str] = {}
    if pos < len(s) and s[pos] == "[":
        close = s.find("]", pos)
        if close < 0:
            _fail(text, pos, None, "unclosed '[' in variant list", where)
        body = s[pos + 1 : close]
        cursor = pos + 1
        for part in body.split(","):
            vm = _VARIANT_RE.fullmatch(part)
            if not vm:
                _fail(text, cursor, cursor + len(part), "expected VARIANT=VALUE", where)
            assert vm is not None
            key, value = vm.group(1), vm.group(2)
            if key in variants and variants[key] != value:
                _fail(text, cursor, cursor + len(part), f"variant {key!r} given twice", where)
            variants[key] = value
            cursor += len(part) + 1
        pos = close + 1
    rest = s[pos:].strip()
    try:
        spec = _specifier(rest)
    except InvalidSpecifier:
        start = s.index(rest, pos)
        _fail(text, start, None, "invalid version specifier (PEP 440, e.g. '>=1.18,<2')", where)
    return Requirement(name=name, variants=tuple(sorted(variants.items())), specifier=spec)


@functools.lru_cache(maxsize=4096)
def _specifier(text: str) -> SpecifierSet:
    """One SpecifierSet per distinct specifier text: an index repeats a few (`>=1,<2`) under
    many names, and building one is most of the cost of parsing a requirement. Never mutated
    (its `prereleases` stays unset), so sharing it is safe."""
    return SpecifierSet(text)


def parse_version(text: str, where: str = "") -> Version:
    try:
        return Version(text)
    except InvalidVersion as e:
        raise RequirementError(
            f"invalid version {text!r}",
            where=where or None,
            hint="use a PEP 440 version, e.g. 1.20.1",
        ) from e


def _fail(text: str, start: int, end: int | None, message: str, where: str) -> None:
    raise RequirementError(
        f"invalid requirement {text!r}: {message}",
        where=where or None,
        why=caret(text, start, end),
        hint="requirements read NAME[VARIANT=VALUE,...] SPECIFIER, e.g. 'onnxruntime[device=cpu] >=1.17'",
    )
