"""The submission room's one error (an `mlenv.errors.MlenvError`: message, where, why, hint)."""

from __future__ import annotations

from mlenv.errors import MlenvError


class SubmissionError(MlenvError):
    """Runs that cannot be submitted, a system description that lacks fields, or a tree that
    does not pass mlenv's checks (each problem with its path in `problems`)."""

    kind = "submission"
