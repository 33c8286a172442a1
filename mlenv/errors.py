"""One exception root for everything a user can cause; rendered once, at the CLI edge."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One located problem inside a file: `where` is `file:line: dotted.path` or similar."""

    where: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}


class MlenvError(Exception):
    """Base of every error a user can act on.

    `message` says what happened; `where` names a file/line/field or a requirement chain;
    `why` explains; `hint` says how to fix it; `problems` lists several located problems
    (all the errors of one file are collected before failing).
    """

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        why: str | None = None,
        hint: str | None = None,
        problems: Sequence[Problem] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.why = why
        self.hint = hint
        self.problems = tuple(problems)
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """CONTRACTS §9's error object (message, where, why, hint, details), plus `kind` and
        the located `problems` of a file."""
        return {
            "kind": self.kind,
            "message": self.message,
            "where": self.where,
            "why": self.why,
            "hint": self.hint,
            "details": self.details,
            "problems": [p.to_dict() for p in self.problems],
        }

    def __str__(self) -> str:
        parts = [self.message]
        if self.where:
            parts.append(f"at {self.where}")
        parts.extend(f"{p.where}: {p.message}" for p in self.problems)
        if self.why:
            parts.append(self.why)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class FormatError(MlenvError):
    """A manifest, recipe, target or lock file that does not follow its format."""

    kind = "invalid-file"


class RequirementError(FormatError):
    kind = "invalid-requirement"


class IndexError_(MlenvError):
    kind = "recipe-index"


class ResolutionError(MlenvError):
    kind = "unsatisfiable"


class LockError(MlenvError):
    kind = "lock"


class InstallError(MlenvError):
    kind = "install"


class IntegrityError(InstallError):
    kind = "integrity"


class RunError(MlenvError):
    kind = "run"


class UsageError(MlenvError):
    """A command line that cannot be carried out (exit 1, unlike argparse's exit 2)."""

    kind = "usage"


def collect(problems: Iterable[Problem], message: str, *, hint: str | None = None) -> None:
    """Raise one FormatError carrying every problem found, if there is any."""
    found = list(problems)
    if found:
        raise FormatError(message, problems=found, hint=hint)
