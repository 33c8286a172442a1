"""Requirements and candidates the resolvelib provider works with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.version import Version

from mlenv.index import Located
from mlenv.requirement import Requirement

ROOT = "mlenv.yaml"


@dataclass(frozen=True, kw_only=True)
class Req:
    """A requirement plus how it was reached: `chain` reads from the manifest down."""

    req: Requirement
    chain: tuple[str, ...] = (ROOT,)
    satisfied: dict[Candidate, bool] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @property
    def name(self) -> str:
        return self.req.name

    @property
    def pinned(self) -> bool:
        return any(s.operator in ("==", "===") for s in self.req.specifier)

    def describe(self) -> str:
        return " -> ".join((*self.chain, str(self.req)))

    def __str__(self) -> str:
        return str(self.req)


@dataclass(frozen=True, kw_only=True, eq=False)
class Candidate:
    """One choice for an identifier: a recipe at a version with every variant fixed.

    Candidates are made once per identifier and compared by identity (resolvelib hands the
    same objects back), which keeps the hot `is_satisfied_by` memo cheap.

    `name` is the identifier (a recipe name, or a virtual name for a provider candidate);
    `provider` is the concrete recipe name behind a virtual.
    """

    name: str
    version: Version
    variants: tuple[tuple[str, str], ...] = ()
    located: Located | None = field(default=None, compare=False, hash=False)
    provider: str | None = None
    synthetic: str | None = None  # "target" for the target's own python interpreter

    @property
    def recipe_name(self) -> str:
        return self.provider or self.name

    @property
    def variant_map(self) -> dict[str, str]:
        return dict(self.variants)

    def label(self) -> str:
        name = self.recipe_name
        if self.variants:
            name += "[" + ",".join(f"{k}={v}" for k, v in self.variants) + "]"
        return f"{name} {self.version}"


def variant_values_ok(candidate_variants: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(candidate_variants.get(k) == v for k, v in wanted.items())


def describe_facts(facts: Mapping[str, Any]) -> str:
    keys = ("os", "arch", "microarch", "accelerator", "cuda", "python")
    return ", ".join(f"{k}={facts[k]}" for k in keys if k in facts)
