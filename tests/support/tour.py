"""The README's command tour ("A tour of the commands") read as data, and the parser's commands
beside it: what tests/cli checks the one against the other (and runs with --json)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## A tour of the commands"
_OPTION = re.compile(r"(?<![^\s\[])(--?[a-z][a-z0-9-]*)")


@dataclass(frozen=True)
class Entry:
    """One command form of the tour: `mlenv env gc [PROJECT_DIR…] [--only]` is env / gc."""

    command: str
    action: str | None
    text: str

    @property
    def name(self) -> str:
        """What the --json envelope's `command` says: `run`, `env gc`."""
        return f"{self.command} {self.action}" if self.action else self.command

    @property
    def options(self) -> list[str]:
        return _OPTION.findall(self.text)


def tour_rows(readme: str | None = None) -> list[str]:
    """The first cell of each row of the tour table."""
    text = README.read_text(encoding="utf-8") if readme is None else readme
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `mlenv")]
    return [re.split(r"(?<!\\)\|", row)[1].strip() for row in rows]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's sub-commands (or a command's actions), by name; {} when it has none."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings}


def tour(parser: argparse.ArgumentParser, readme: str | None = None) -> list[Entry]:
    """Every command form of the tour, its action told apart from a positional by the parser
    (`env list` is an action, `completion bash` is not). A form without `mlenv` continues the
    one before it: `mlenv env list` / `remove [TARGET]`."""
    commands = subcommands(parser)
    out: list[Entry] = []
    for cell in tour_rows(readme):
        command = ""
        for form in re.findall(r"`([^`]+)`", cell):
            form = form.replace("\\|", "|")
            words = form.split()
            if words[0] == "mlenv":
                command, words = words[1], words[2:]
            actions = subcommands(commands[command]) if command in commands else {}
            action = words[0] if words and words[0] in actions else None
            out.append(Entry(command=command, action=action, text=form))
    return out


def parser_names(parser: argparse.ArgumentParser) -> set[str]:
    """`run`, `env gc`, …: every command, and every action of a command that has them."""
    out: set[str] = set()
    for name, sub in subcommands(parser).items():
        actions = subcommands(sub)
        out |= {f"{name} {a}" for a in actions} if actions else {name}
    return out
