"""The resolvelib provider: thin and pure; all data comes from the index and the target facts.

Variants are part of a candidate (a recipe at a version with every variant value fixed), so all
requirements on one recipe meet at one identifier and two different values for one variant are
a conflict that names both origins. A virtual name (`provides:`) is its own identifier whose
candidates are the providers, each depending on the concrete recipe at the same version.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version
from resolvelib.providers import AbstractProvider
from resolvelib.structs import RequirementInformation

from mlenv.index import Located, RecipeIndex
from mlenv.requirement import Requirement

from .candidates import Candidate, Req

PYTHON = "python"
Pin = tuple[str, tuple[tuple[str, str], ...]]  # (version text, variants)


class Provider(AbstractProvider):
    def __init__(
        self,
        index: RecipeIndex,
        facts: Mapping[str, Any],
        *,
        prefer: Mapping[str, str] | None = None,
        pins: Mapping[str, Pin] | None = None,
        tools: Mapping[str, Sequence[str]] | None = None,
        roots: Iterable[str] = (),
    ) -> None:
        self.index = index
        self.facts = dict(facts)
        self.prefer = dict(prefer or {})
        self.pins = dict(pins or {})
        # kept as given: a `LazyTools` runs a recipe's detection only when it is asked about
        self.tools: Mapping[str, Sequence[str]] = tools if tools is not None else {}
        self.roots = frozenset(roots)  # names the manifest requests itself
        self._all: dict[str, list[Candidate]] = {}
        self.via: dict[str, tuple[str, ...]] = {}  # identifier -> chain of the first requirement
        self.visited: set[str] = set()
        self._cause_key: object = None
        self._cause_names: frozenset[str] = frozenset()

    # -- resolvelib API (keyword names must match the abstract class) -------------------------
    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.name

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[RequirementInformation]],
        backtrack_causes: Sequence[RequirementInformation],
    ) -> Any:
        """Backtrack causes first, then `==` pins, then the shallowest, then by name."""
        pinned = False
        depth = 1 << 30
        for info in information[identifier]:
            req = info.requirement
            pinned = pinned or req.pinned
            depth = min(depth, len(req.chain))
        return (identifier not in self._causes(backtrack_causes), not pinned, depth, identifier)

    def _causes(self, backtrack_causes: Sequence[RequirementInformation]) -> frozenset[str]:
        if self._cause_key is not backtrack_causes:  # same list object for a whole round
            names = {c.requirement.name for c in backtrack_causes}
            names |= {c.parent.name for c in backtrack_causes if c.parent is not None}
            self._cause_key, self._cause_names = backtrack_causes, frozenset(names)
        return self._cause_names

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Iterable[Candidate]:
        reqs = list(requirements[identifier])
        if identifier not in self.via and reqs:
            self.via[identifier] = reqs[0].chain
        bad = set(incompatibilities[identifier])
        return [
            c
            for c in self.candidates(identifier)
            if c not in bad and all(self.is_satisfied_by(requirement=r, candidate=c) for r in reqs)
        ]

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        # resolvelib re-checks every pin against its requirements each round: memoize per
        # requirement object (candidates hash by identity, so the lookup is cheap)
        seen = requirement.satisfied
        ok = seen.get(candidate)
        if ok is None:
            req = requirement.req
            ok = (
                req.name == candidate.name
                and req.allows(candidate.version)
                and all((k, v) in candidate.variants for k, v in req.variants)
            )
            seen[candidate] = ok
        return ok

    def get_dependencies(self, candidate: Candidate) -> Iterable[Req]:
        chain = (*self.via.get(candidate.name, ()), candidate.label())
        if candidate.synthetic:
            return []
        if candidate.provider:
            exact = Requirement(
                name=candidate.provider,
                variants=candidate.variants,
                specifier=SpecifierSet(f"=={candidate.version}"),
            )
            return [Req(req=exact, chain=chain)]
        return [Req(req=d.requirement, chain=chain) for d in self.dependencies(candidate)]

    # -- data ---------------------------------------------------------------------------------
    def dependencies(self, candidate: Candidate) -> list[Any]:
        located = candidate.located
        if located is None:
            return []
        recipe = located.recipe
        rv = recipe.version(candidate.version)
        variants = candidate.variant_map
        deps = [*recipe.requires, *(rv.requires if rv else ())]
        return [
            d
            for d in deps
            if not d.when
            or d.when.holds(variants=variants, version=candidate.version, facts=self.facts)
        ]

    def candidates(self, identifier: str) -> list[Candidate]:
        """Every candidate for an identifier, most preferred first (cached)."""
        cached = self._all.get(identifier)
        if cached is not None:
            return cached
        self.visited.add(identifier)
        located = self.index.get(identifier)
        out: list[Candidate] = []
        if located is not None:
            out = self._concrete(identifier, located)
        elif identifier == PYTHON and "python" in self.facts:
            out = [
                Candidate(
                    name=PYTHON, version=Version(str(self.facts["python"])), synthetic="target"
                )
            ]
        elif identifier in self.index.providers:
            out = self._virtual(identifier)
        self._all[identifier] = out
        return out

    def supported(self, located: Located) -> bool:
        s = located.recipe.supports
        return not s or s.holds(variants={}, version=None, facts=self.facts)

    def versions(self, located: Located) -> list[Version]:
        recipe = located.recipe
        versions = [rv.version for rv in recipe.versions]  # distinct, newest first
        detected = self.tools.get(recipe.name, ())
        if not detected:
            return versions
        for text in detected:
            try:
                versions.append(Version(text))
            except InvalidVersion:
                continue
        return sorted(set(versions), reverse=True)

    def _concrete(self, name: str, located: Located) -> list[Candidate]:
        if not self.supported(located):
            return []
        recipe = located.recipe
        axes = [[v.default, *(x for x in v.values if x != v.default)] for v in recipe.variants]
        combos = [
            tuple(zip([v.name for v in recipe.variants], values, strict=True))
            for values in itertools.product(*axes)
        ]
        versions = self.versions(located)
        out = [
            Candidate(name=name, version=version, variants=combo, located=located)
            for version in versions
            for combo in combos
        ]
        pin = self.pins.get(name)
        if pin is not None:
            # the pinned version and variant values, where the recipe still has them; a variant
            # added since the lock takes its default (candidates are ordered defaults first)
            ver, pinned = pin
            known = {v.name for v in recipe.variants}
            wanted = [(k, v) for k, v in pinned if k in known]
            at = _pinned_version(versions, ver)
            if at is not None:  # candidates share their version objects: `is` finds them
                out.sort(
                    key=lambda c: not (c.version is at and all(kv in c.variants for kv in wanted))
                )
        return out

    def _virtual(self, virtual: str) -> list[Candidate]:
        names = list(self.index.providers[virtual])
        chosen = self.prefer.get(virtual)
        names.sort(key=lambda n: (n != chosen, n not in self.roots, n))
        out = []
        for provider in names:
            for c in self.candidates(provider):
                out.append(
                    Candidate(
                        name=virtual,
                        version=c.version,
                        variants=c.variants,
                        located=c.located,
                        provider=provider,
                    )
                )
        return out


def _pinned_version(versions: Sequence[Version], text: str) -> Version | None:
    """The version whose text is `text` (as the lock writes it), if the recipe still has it."""
    try:
        wanted = Version(text)
    except InvalidVersion:
        return None
    return next((v for v in versions if v == wanted and str(v) == text), None)
