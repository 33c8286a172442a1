"""Why a requirement cannot be met: chains from the manifest, target facts, and a fix."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from mlenv.errors import Problem, ResolutionError
from mlenv.sources import DetectSource

from .candidates import Req, describe_facts
from .provider import PYTHON, Provider


def why_no_provider(provider: Provider, req: Req, target_name: str) -> tuple[str, str]:
    """A virtual name: which recipes provide it, and why each one is ruled out."""
    names = provider.index.providers.get(req.name, [])
    reasons = []
    for name in names:
        concrete = Req(req=replace(req.req, name=name), chain=req.chain)
        reason, _ = why_no_candidate(provider, concrete, target_name)
        reasons.append(f"{name}: {reason or 'conflicts with the other requirements'}")
    return (
        f"{req.name} is provided by {', '.join(names)}, and none fits — " + "; ".join(reasons),
        f"choose a provider that fits with `prefer: {{{req.name}: NAME}}` or a requirement on it",
    )


def why_no_candidate(provider: Provider, req: Req, target_name: str) -> tuple[str, str]:
    """(reason, hint) for a requirement that no candidate satisfies on its own."""
    name = req.name
    index = provider.index
    located = index.get(name)
    facts = provider.facts
    if located is None and name == PYTHON:
        return (
            f"target {target_name} has python {facts.get('python')}, outside {req.req.specifier}",
            "lock for a target with a fitting python, or relax the requirement",
        )
    if located is None and name not in index.providers:
        close = difflib.get_close_matches(name, index.names(), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "check `mlenv recipes list`"
        return (f"no recipe named {name!r} in the recipe index", hint + " (or add a recipe folder)")
    if located is None:
        return why_no_provider(provider, req, target_name)
    recipe = located.recipe
    if not provider.supported(located):
        failing = recipe.supports.failing(variants={}, version=None, facts=facts)
        return (
            f"{name} supports {'; '.join(failing)}; target {target_name} "
            f"({describe_facts(facts)}) does not fit",
            f"lock for a target {name} supports (`mlenv targets`), or choose another component",
        )
    for key, value in req.req.variants:
        variant = recipe.variant(key)
        if variant is None:
            known = ", ".join(v.name for v in recipe.variants) or "none"
            return (
                f"{name} has no variant {key!r} (its variants: {known})",
                "drop or fix the variant",
            )
        if value not in variant.values:
            return (
                f"{name} variant {key} has no value {value!r} (values: {', '.join(variant.values)})",
                f"use one of {', '.join(variant.values)}",
            )
    detect = next((e.source for e in recipe.install if isinstance(e.source, DetectSource)), None)
    if detect is not None and not provider.versions(located):
        tried = ", ".join(detect.executables)
        return (
            f"{name} is a system tool and none was found on target {target_name} (looked for {tried})",
            f"install {name} on the machine (or declare it under `tools:` in the target file)",
        )
    versions = [str(v) for v in provider.versions(located)]
    if not any(req.req.allows(v) for v in provider.versions(located)):
        shown = ", ".join(versions[:8]) + (" …" if len(versions) > 8 else "")
        return (
            f"no version of {name} matches {req.req.specifier or 'any'} (available: {shown or 'none'})",
            "relax the version specifier, or add the version to the recipe",
        )
    return ("", "")


def variant_clash(reqs: Sequence[Req]) -> str | None:
    """'onnxruntime variant device: cuda (mlenv.yaml) vs cpu (mlenv.yaml -> x 1.0)'."""
    seen: dict[str, dict[str, Req]] = {}
    for r in reqs:
        for key, value in r.req.variants:
            seen.setdefault(key, {}).setdefault(value, r)
    for key, values in sorted(seen.items()):
        if len(values) > 1:
            shown = " vs ".join(
                f"{v} (from {' -> '.join(r.chain)})" for v, r in sorted(values.items())
            )
            return f"{reqs[0].name} variant {key}: {shown}"
    return None


def explain(provider: Provider, causes: Collection[Any], target_name: str) -> ResolutionError:
    """Turn resolvelib's causes into one diagnostic with a chain per conflicting requirement."""
    problems: list[Problem] = []
    reasons: list[str] = []
    hints: list[str] = []
    by_name: dict[str, list[Req]] = {}
    for info in causes:
        by_name.setdefault(info.requirement.name, []).append(info.requirement)
    for name, reqs in sorted(by_name.items()):
        lone = [why_no_candidate(provider, r, target_name) for r in reqs]
        for r, (reason, hint) in zip(reqs, lone, strict=True):
            problems.append(
                Problem(where=r.describe(), message=reason or "conflicts with the others")
            )
            if reason and reason not in reasons:
                reasons.append(reason)
            if hint and hint not in hints:
                hints.append(hint)
        if not any(reason for reason, _ in lone) and len(reqs) > 1:
            clash = variant_clash(reqs)
            reasons.append(clash or f"the requirements on {name} above cannot all hold at once")
            hints.append(f"change one of the requirements on {name} so they agree")
    summary = ", ".join(sorted(by_name))
    return ResolutionError(
        f"cannot satisfy the requirements for target {target_name} (conflict on {summary})",
        where=f"target {target_name}",
        why="; ".join(reasons) if reasons else None,
        hint="; ".join(hints) if hints else "relax one of the requirements listed above",
        problems=problems,
        details={
            "target": target_name,
            "facts": provider.facts,
            "conflicts": [
                {"requirement": str(r), "chain": list(r.chain)}
                for reqs in by_name.values()
                for r in reqs
            ],
        },
    )
