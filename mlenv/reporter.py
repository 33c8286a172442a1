"""Progress goes through a reporter object; library code never prints."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...

    def debug(self, message: str) -> None: ...

    def start(self, label: str, total: int | None) -> None: ...

    def advance(self, label: str, amount: int) -> None: ...

    def done(self, label: str) -> None: ...


class NullReporter:
    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def debug(self, message: str) -> None:
        pass

    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, label: str, amount: int) -> None:
        pass

    def done(self, label: str) -> None:
        pass
