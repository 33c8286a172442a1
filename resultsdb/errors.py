"""The results database's one error (an `mlenv.errors.MlenvError`: message, where, why, hint)."""

from __future__ import annotations

from mlenv.errors import MlenvError


class ResultsDBError(MlenvError):
    """A results database that cannot be opened, read or written, or a run that is not there."""

    kind = "results-db"
