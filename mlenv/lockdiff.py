"""What differs between two locks, per target: pure data in, pure data out (`mlenv diff`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .lock import Lock, LockTarget

CATEGORIES = ("facts", "packages", "pypi", "conda", "artifacts", "system")


@dataclass(frozen=True, kw_only=True)
class Change:
    """One entry that was added (`old` is None), removed (`new` is None) or changed."""

    category: str  # one of CATEGORIES
    name: str
    old: str | None = None
    new: str | None = None
    detail: tuple[str, ...] = ()  # which fields changed, e.g. ("sha256",)

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"category": self.category, "name": self.name, "kind": self.kind}
        if self.old is not None:
            out["old"] = self.old
        if self.new is not None:
            out["new"] = self.new
        if self.detail:
            out["fields"] = list(self.detail)
        return out


@dataclass(frozen=True, kw_only=True)
class TargetDiff:
    name: str
    status: str  # added | removed | changed | same
    changes: tuple[Change, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "added": [c.to_dict() for c in self.changes if c.kind == "added"],
            "removed": [c.to_dict() for c in self.changes if c.kind == "removed"],
            "changed": [c.to_dict() for c in self.changes if c.kind == "changed"],
        }


@dataclass(frozen=True, kw_only=True)
class LockDiff:
    inputs: tuple[Change, ...]
    targets: tuple[TargetDiff, ...]

    @property
    def identical(self) -> bool:
        return not self.inputs and all(t.status == "same" for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "inputs": [c.to_dict() for c in self.inputs],
            "targets": {t.name: t.to_dict() for t in self.targets},
        }


# -- one entry per key, described by a short text and compared field by field ----------------


Entry = tuple[str, dict[str, Any]]  # (short description, comparable fields)


def _flatten(facts: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in facts.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


def _entries(section: LockTarget, category: str) -> dict[str, Entry]:
    if category == "facts":
        return {k: (v, {"value": v}) for k, v in _flatten(section.facts).items()}
    if category == "packages":
        out: dict[str, Entry] = {}
        for name, p in section.packages.items():
            variants = ",".join(f"{k}={v}" for k, v in p.variants)
            text = p.version + (f" [{variants}]" if variants else "")
            fields = {"version": p.version, "variants": variants, "recipe": p.recipe}
            out[name] = (text, {**fields, "requires": ",".join(p.requires), "kind": p.kind})
        return out
    if category == "pypi":
        return {  # an sdist's build requirement may share a name with a runtime pin
            p.name + (" (build)" if p.build_for else ""): (
                p.version,
                {"version": p.version, "sha256": p.sha256, "url": p.url},
            )
            for p in section.pypi
        }
    if category == "conda":
        return {
            c.name: (
                f"{c.version} ({c.build})",
                {"version": c.version, "build": c.build, "subdir": c.subdir, "sha256": c.sha256},
            )
            for c in section.conda
        }
    if category == "artifacts":
        out = {}
        for a in section.artifacts:
            digest = a.member_sha256 or a.sha256 or (f"md5:{a.md5}" if a.md5 else None)
            text = f"sha256:{digest[:12]}…" if digest and len(digest) == 64 else str(digest)
            if digest is None and a.tree_sha256:  # a folder beside a recipe
                text = f"tree sha256:{a.tree_sha256[:12]}…"
            if a.local_env:
                text = f"${a.local_env}"
            compared: dict[str, Any] = {
                "url": a.url,
                "sha256": a.sha256,
                "md5": a.md5,
                "member": a.member,
                "member-sha256": a.member_sha256,
                "local-env": a.local_env,
                "tree-sha256": a.tree_sha256,
                "extract": a.extract,
                "path": a.path,
            }
            out[f"{a.package}/{a.name}"] = (text, compared)
        return out
    if category == "system":
        return {s.name: (s.version, {"version": s.version}) for s in section.system}
    raise ValueError(f"unknown category {category!r}")


def _compare(category: str, a: dict[str, Entry], b: dict[str, Entry]) -> list[Change]:
    changes = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            changes.append(Change(category=category, name=key, old=a[key][0]))
        elif key not in a:
            changes.append(Change(category=category, name=key, new=b[key][0]))
        else:
            (old, fa), (new, fb) = a[key], b[key]
            fields = tuple(f for f in sorted(set(fa) | set(fb)) if fa.get(f) != fb.get(f))
            if fields:
                changes.append(Change(category=category, name=key, old=old, new=new, detail=fields))
    return changes


def diff_sections(a: LockTarget | None, b: LockTarget | None) -> TargetDiff:
    """Every change from section `a` to section `b` (either may be missing)."""
    either = b if b is not None else a
    name = either.name if either is not None else "?"
    empty = LockTarget(name=name, facts={})
    changes: list[Change] = []
    for category in CATEGORIES:
        changes += _compare(
            category, _entries(a or empty, category), _entries(b or empty, category)
        )
    if a is None:
        status = "added"
    elif b is None:
        status = "removed"
    else:
        status = "changed" if changes else "same"
    return TargetDiff(name=name, status=status, changes=tuple(changes))


def diff_locks(a: Lock, b: Lock) -> LockDiff:
    inputs = []
    for key, old, new in (
        ("manifest", a.manifest, b.manifest),
        ("recipes", a.recipes, b.recipes),
        ("version", str(a.version), str(b.version)),
    ):
        if old != new:
            inputs.append(Change(category="inputs", name=key, old=old, new=new, detail=(key,)))
    targets = tuple(
        diff_sections(a.targets.get(n), b.targets.get(n))
        for n in sorted(set(a.targets) | set(b.targets))
    )
    return LockDiff(inputs=tuple(inputs), targets=targets)
