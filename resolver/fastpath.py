"""A greedy first pass over the same provider: most solves have no conflict at all.

Requirements are visited breadth-first from the manifest (in its order) and each identifier
takes its most preferred candidate that satisfies every requirement known when it is taken. If
a requirement found later rejects a candidate already taken, or an identifier has no
candidate, the pass gives up and resolvelib solves from scratch (and explains any conflict).
When the pass succeeds, every choice satisfies every requirement on it, and each identifier has
its most preferred candidate given the choices above it — the manifest's order decides ties,
as in pip. It runs in linear time, while resolvelib re-checks every pin each round (quadratic
in the number of packages). Property tests check that a solution exists for one strategy
exactly when it does for the other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .candidates import Candidate, Req
from .provider import Provider


def greedy(
    provider: Provider, roots: Sequence[Req]
) -> tuple[dict[str, Candidate], dict[str, set[str]]] | None:
    """(identifier -> candidate, identifier -> child identifiers), or None to fall back."""
    reqs: dict[str, list[Req]] = {}
    picked: dict[str, Candidate] = {}
    children: dict[str, set[str]] = {}
    queue: deque[str] = deque()

    def add(req: Req) -> bool:
        identifier = req.name
        known = reqs.setdefault(identifier, [])
        known.append(req)
        current = picked.get(identifier)
        if current is not None:
            return provider.is_satisfied_by(requirement=req, candidate=current)
        if len(known) == 1:
            queue.append(identifier)
        return True

    if not all(add(r) for r in roots):
        return None
    while queue:
        identifier = queue.popleft()
        known = reqs[identifier]
        provider.via.setdefault(identifier, known[0].chain)
        choice = next(
            (
                c
                for c in provider.candidates(identifier)
                if all(provider.is_satisfied_by(requirement=r, candidate=c) for r in known)
            ),
            None,
        )  # the first of find_matches' answer, without filtering the rest
        if choice is None:
            return None
        picked[identifier] = choice
        deps = list(provider.get_dependencies(candidate=choice))
        children[identifier] = {d.name for d in deps}
        if not all(add(d) for d in deps):
            return None
    return picked, children
