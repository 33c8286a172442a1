"""Progress and notes for people: one line each, on a stream given by the caller (stderr)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True, kw_only=True)
class Reporter:
    stream: TextIO
    prefix: str = "harness"

    def info(self, message: str) -> None:
        print(f"{self.prefix}: {message}", file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        print(f"{self.prefix}: warning: {message}", file=self.stream, flush=True)
