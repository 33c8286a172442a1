"""The one exception the harness renders for people: a failure the user can act on."""

from __future__ import annotations


class HarnessError(Exception):
    """Invalid run config, missing module, model/data mismatch, unreadable file, failed run.

    Rendered once, at the entry point, as a single ``error: …`` line on stderr; exit status 1.
    """

    def __init__(self, what: str, *, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def render(self) -> str:
        line = f"error: {self.what}"
        if self.hint:
            line += f" (hint: {self.hint})"
        return " ".join(line.split())


class TooFewSamples(HarnessError):
    """The data holds fewer samples than the run needs; the pipeline words the advice (the
    recipe's count or a subset asked for, and ``--samples``)."""

    def __init__(self, source: str, *, found: int, wanted: int, unit: str) -> None:
        super().__init__(f"{source}: has {found} {unit}, {wanted} samples are needed")
        self.source = source
        self.found = found
        self.wanted = wanted
        self.unit = unit
