"""`mlenv tree` / `mlenv why`: the solved graph of the lock, read without resolving.

The pure part works on one `LockTarget`: the manifest's requirements are the roots, each recipe
package's `requires` its children, and under each package the pins it brought in (its direct
PyPI requirements, conda specs, artifacts and system tools) are leaves. PyPI pins that no recipe
names directly (the rest of uv's closure) hang under one `(pypi dependencies)` node, since the
lock does not record which wheel pulled them in.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv.errors import UsageError
from mlenv.index import RecipeIndex
from mlenv.lock import Lock, LockTarget
from mlenv.resolver.lockgen import root_requirements
from mlenv.sources import CondaSource, PypiSource

from .project import Project
from .resolve import stale_error, staleness

TRANSITIVE = "(pypi dependencies)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    name: str
    kind: str  # a recipe kind, or pypi | conda | artifact | system | group
    version: str = ""
    variants: tuple[tuple[str, str], ...] = ()
    detail: str = ""  # e.g. a conda build, an artifact's digest
    children: tuple[Node, ...] = ()
    repeated: bool = False  # its subtree is shown above: `(*)`

    @property
    def label(self) -> str:
        parts = [self.name]
        if self.version:
            parts.append(self.version)
        if self.variants:
            parts.append("[" + ", ".join(f"{k}={v}" for k, v in self.variants) + "]")
        if self.kind in ("pypi", "conda", "artifact", "system"):
            parts.append(f"({self.kind}{': ' + self.detail if self.detail else ''})")
        if self.repeated:
            parts.append("(*)")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.version:
            out["version"] = self.version
        if self.variants:
            out["variants"] = dict(self.variants)
        if self.detail:
            out["detail"] = self.detail
        if self.repeated:
            out["repeated"] = True
        out["children"] = [c.to_dict() for c in self.children]
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Graph:
    """One lock section as a graph: the roots, and per package its leaves."""

    section: LockTarget
    roots: tuple[str, ...]
    leaves: Mapping[str, tuple[Node, ...]] = field(default_factory=dict)
    transitive: tuple[Node, ...] = ()  # PyPI pins no recipe names directly

    def children(self, name: str) -> tuple[str, ...]:
        package = self.section.packages.get(name)
        return package.requires if package else ()


def graph(
    section: LockTarget, roots: Sequence[str], direct: Mapping[str, Sequence[str]] | None = None
) -> Graph:
    """`direct`: package -> the PyPI/conda names its recipe asks for (default: none)."""
    direct = direct or {}
    leaves: dict[str, list[Node]] = {n: [] for n in section.packages}
    claimed: set[str] = set()
    pypi = {canonicalize_name(p.name): p for p in section.runtime_pypi}
    conda = {canonicalize_name(c.name): c for c in section.conda}
    for pname in sorted(direct):
        for wanted in direct[pname]:
            key = canonicalize_name(wanted)
            if key in pypi or key in conda:
                leaves.setdefault(pname, []).append(_pin_node(key, pypi, conda, claimed, ()))
    for a in section.artifacts:
        digest = a.sha256 or a.tree_sha256 or a.md5 or ""
        detail = f"{'md5' if not (a.sha256 or a.tree_sha256) and a.md5 else 'sha256'}:{digest[:12]}"
        leaves.setdefault(a.package, []).append(
            Node(name=a.name, kind="artifact", detail=detail if digest else a.local_env or "")
        )
    for s in section.system:
        leaves.setdefault(s.package, []).append(Node(name=s.name, kind="system", version=s.version))
    transitive = tuple(
        Node(name=p.name, kind="pypi", version=p.version)
        for key, p in sorted(pypi.items())
        if key not in claimed
    )
    present = [r for r in dict.fromkeys(roots) if r in section.packages]
    reached = _reachable(section, present)
    extra = sorted(n for n in section.packages if n not in reached)  # never expected
    return Graph(
        section=section,
        roots=tuple(present + extra),
        leaves={n: tuple(sorted(v, key=lambda x: (x.kind, x.name))) for n, v in leaves.items()},
        transitive=transitive,
    )


def _pin_node(
    key: str, pypi: Mapping[Any, Any], conda: Mapping[Any, Any], claimed: set[str], path: tuple
) -> Node:
    """A PyPI pin (else the conda pin) of that name, its lock `requires:` as children (a PyPI
    edge to a name the conda layer provides ends at the conda pin)."""
    pin = pypi.get(key) or conda[key]
    kind = "pypi" if key in pypi else "conda"
    if kind == "pypi":
        claimed.add(key)
    wanted = [canonicalize_name(r) for r in pin.requires]
    children = tuple(
        _pin_node(k, pypi, conda, claimed, (*path, key))
        for k in wanted
        if (k in pypi or k in conda) and k not in path and k != key
    )
    detail = pin.build if kind == "conda" else ""
    return Node(name=pin.name, kind=kind, version=pin.version, detail=detail, children=children)


def _reachable(section: LockTarget, roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name not in section.packages:
            continue
        seen.add(name)
        stack.extend(section.packages[name].requires)
    return seen


def build_tree(g: Graph, depth: int | None = None) -> tuple[Node, ...]:
    """The nested nodes, each package's subtree expanded once (later ones marked repeated)."""
    expanded: set[str] = set()

    def node(name: str, level: int, path: frozenset[str]) -> Node:
        p = g.section.packages[name]
        base = Node(name=name, kind=p.kind, version=p.version, variants=p.variants)
        has_children = bool(p.requires or g.leaves.get(name))
        if name in expanded or name in path:
            return Node(**{**_fields(base), "repeated": has_children})
        if depth is not None and level >= depth:
            return base
        expanded.add(name)
        kids = [node(c, level + 1, path | {name}) for c in p.requires if c in g.section.packages]
        return Node(**{**_fields(base), "children": (*kids, *g.leaves.get(name, ()))})

    nodes = [node(r, 0, frozenset()) for r in g.roots]
    if g.transitive:
        shown = () if depth is not None and depth < 1 else g.transitive
        nodes.append(Node(name=TRANSITIVE, kind="group", children=shown))
    return tuple(nodes)


def _fields(n: Node) -> dict[str, Any]:
    return {"name": n.name, "kind": n.kind, "version": n.version, "variants": n.variants}


def render_tree(nodes: Sequence[Node]) -> list[str]:
    """Text lines as `uv tree` draws them."""
    lines: list[str] = []

    def walk(n: Node, prefix: str) -> None:
        for i, child in enumerate(n.children):
            last = i == len(n.children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{child.label}")
            walk(child, prefix + ("    " if last else "│   "))

    for n in nodes:
        lines.append(n.label)
        walk(n, "")
    return lines


def names(g: Graph) -> list[str]:
    """Every name `why` knows: packages and leaves."""
    out = set(g.section.packages)
    for leaves in (*g.leaves.values(), g.transitive):
        out.update(leaf.name for leaf in leaves)
    return sorted(out)


def chains(g: Graph, name: str) -> list[tuple[Node, ...]]:
    """Every chain from a root to `name` (a package or a leaf), roots first, no cycles."""
    key = canonicalize_name(name)
    out: list[tuple[Node, ...]] = []
    if any(canonicalize_name(t.name) == key for t in g.transitive):
        group = Node(name=TRANSITIVE, kind="group")
        out.extend((group, t) for t in g.transitive if canonicalize_name(t.name) == key)

    def visit(pname: str, path: tuple[Node, ...], seen: frozenset[str]) -> None:
        p = g.section.packages[pname]
        here = (*path, Node(name=pname, kind=p.kind, version=p.version, variants=p.variants))
        if pname == name:
            out.append(here)
        for leaf in g.leaves.get(pname, ()):
            if canonicalize_name(leaf.name) == key and pname != name:
                out.append((*here, leaf))
        for child in p.requires:
            if child in g.section.packages and child not in seen:
                visit(child, here, seen | {child})

    for root in g.roots:
        visit(root, (), frozenset({root}))
    return out


def render_chains(found: Sequence[tuple[Node, ...]]) -> list[str]:
    return [" → ".join(n.label for n in chain) for chain in found]


# -- the op ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeResult:
    target: str
    nodes: tuple[Node, ...]

    def lines(self) -> list[str]:
        return render_tree(self.nodes)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "nodes": [n.to_dict() for n in self.nodes]}


@dataclass(frozen=True, slots=True, kw_only=True)
class WhyResult:
    target: str
    name: str
    chains: tuple[tuple[Node, ...], ...]

    def lines(self) -> list[str]:
        return render_chains(self.chains)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "name": self.name,
            "chains": [[_flat(n) for n in chain] for chain in self.chains],
        }


def _flat(n: Node) -> dict[str, Any]:
    d = n.to_dict()
    d.pop("children", None)
    return d


def direct_names(index: RecipeIndex, section: LockTarget) -> dict[str, list[str]]:
    """package -> the PyPI/conda names its recipe's install entries ask for (on this target)."""
    out: dict[str, list[str]] = {}
    for pname, p in section.packages.items():
        located = index.get(pname)
        if located is None:
            continue
        variants = dict(p.variants)
        values = {"version": p.version, **variants}
        try:
            version: Version | None = Version(p.version)
        except InvalidVersion:
            version = None
        for entry in located.recipe.install:
            if entry.when and not entry.when.holds(
                variants=variants, version=version, facts=section.facts
            ):
                continue
            source = entry.source.substituted(values)
            if isinstance(source, PypiSource):
                out.setdefault(pname, []).extend(_req_name(r) for r in source.requirements)
            elif isinstance(source, CondaSource):
                out.setdefault(pname, []).extend(_spec_name(s) for s in source.specs)
    return out


def _req_name(text: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text).name
    except InvalidRequirement:
        return text.split(";", 1)[0].strip().split(" ", 1)[0]


def _spec_name(spec: str) -> str:
    head = spec.strip().split("::", 1)[-1]
    for stop in " =<>!~[":
        head = head.split(stop, 1)[0]
    return head


def locked_graph(project: Project, target: str | None) -> Graph:
    """The lock's graph for --target (or this machine); a LockError when missing or stale."""
    lock: Lock = project.lock()
    section = project.lock_section(lock, target)
    reasons = staleness(project, lock, [])
    if reasons:
        hint = "run `mlenv resolve` to update it, then run this command again"
        raise stale_error(project, reasons, hint)
    roots = []
    for req in root_requirements(project.manifest):
        if req.name in section.packages:
            roots.append(req.name)
        else:  # a virtual name: the locked recipes that provide it
            roots.extend(
                p for p in project.index.providers.get(req.name, ()) if p in section.packages
            )
    return graph(section, roots, direct_names(project.index, section))


def tree(project: Project, *, target: str | None = None, depth: int | None = None) -> TreeResult:
    g = locked_graph(project, target)
    return TreeResult(target=g.section.name, nodes=build_tree(g, depth))


def why(project: Project, name: str, *, target: str | None = None) -> WhyResult:
    g = locked_graph(project, target)
    found = chains(g, name)
    if not found:
        known = names(g)
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        raise UsageError(
            f"{name!r} is not in the lock for target {g.section.name}",
            where=str(project.lock_path),
            hint=(f"did you mean: {', '.join(close)}?" if close else "see `mlenv tree`")
            + " (names are recipe packages, or PyPI/conda/artifact pins)",
        )
    return WhyResult(target=g.section.name, name=name, chains=tuple(found))


__all__ = [
    "Graph",
    "Node",
    "TreeResult",
    "WhyResult",
    "build_tree",
    "chains",
    "graph",
    "tree",
    "why",
]
