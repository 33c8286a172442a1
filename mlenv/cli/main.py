"""`mlenv` entry point: global options anywhere on the line, one module per command."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from rich.console import Console

from mlenv import __version__
from mlenv.errors import MlenvError, UsageError

from .context import Context, Options
from .output import (
    Outcome,
    emit_json,
    envelope,
    make_console,
    os_error,
    render_error,
    stdout_to_stderr,
)

# help lists these first, in this order; any other module of mlenv.cli.commands follows
ORDER = (
    "init", "add", "remove", "resolve", "install", "run", "tree", "why", "verify", "exec", "shell",
    "env", "explore", "results", "dashboard", "submit", "pack", "reproduce", "diff", "export", "recipes", "targets", "completion",
)  # fmt: skip
_VALUE_GLOBALS = ("--manifest", "--lock")
_FLAG_GLOBALS = ("--json", "--offline", "--debug")
_QUIET = ("-q", "--quiet")
_VERBOSE = ("-v", "--verbose", "-vv", "-vvv")


class UsageExit(SystemExit):
    """A command line argparse (or the global options) refused: exit 2, with the message."""

    def __init__(self, message: str, prog: str = "mlenv") -> None:
        super().__init__(2)
        self.message = message
        self.prog = prog


class HelpExit(SystemExit):
    """`--help` or `--version` under `--json`: the text they printed, for the envelope's data."""

    def __init__(self, text: str) -> None:
        super().__init__(0)
        self.text = text


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors main can also put in the `--json` envelope."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise UsageExit(message, self.prog)


def split_globals(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """Take the global options out of argv wherever they stand (up to a `--`)."""
    options = Options()
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name, eq, value = arg.partition("=")
        if name in _VALUE_GLOBALS:
            if not eq:
                if i + 1 >= len(args):
                    sys.stderr.write(f"mlenv: error: {name} needs a value\n")
                    raise UsageExit(f"{name} needs a value")
                value = args[i + 1]
                i += 1
            setattr(options, name[2:], Path(value))
        elif arg in _FLAG_GLOBALS:
            setattr(options, arg[2:], True)
        elif arg in _QUIET:
            options.verbosity = -1
        elif arg in _VERBOSE:
            options.verbosity = max(options.verbosity, 0) + (
                arg.count("v") if arg != "--verbose" else 1
            )
        else:
            rest.append(arg)
        i += 1
    return options, rest


def command_modules() -> dict[str, ModuleType]:
    """Command name -> module: each module of mlenv.cli.commands lists its names in COMMANDS
    (one module per command; `exec` and `shell` share one)."""
    from . import commands

    out: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        for name in getattr(module, "COMMANDS", ()):
            out[name] = module
    return out


def _order(item: tuple[str, ModuleType]) -> tuple[int, str]:
    name = item[0]
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def only_command(name: str | None) -> dict[str, ModuleType] | None:
    """The module of command `name` alone (a module named like it, or `name_`, or `exec_` for
    `shell`, that lists it in COMMANDS): running a command imports one command module."""
    from . import commands

    if not name or not name.replace("-", "_").isidentifier():
        return None
    stem = name.replace("-", "_")
    for candidate in (stem, f"{stem}_", "exec_" if name == "shell" else ""):
        qualified = f"{commands.__name__}.{candidate}"
        if candidate and importlib.util.find_spec(qualified) is not None:
            module = importlib.import_module(qualified)
            if name in getattr(module, "COMMANDS", ()):
                return {name: module}
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = Parser(
        prog="mlenv",
        description="Resolve, lock, install and run ML benchmarks reproducibly.",
        epilog="global options (anywhere on the line): --manifest PATH, --lock PATH, --json, "
        "--offline, --debug, -q/--quiet (errors only), -v/--verbose (repeatable)",
    )
    parser.add_argument("--version", action="version", version=f"mlenv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = only_command(command) or command_modules()
    for name, module in sorted(modules.items(), key=_order):
        module.add_parser(sub, name)
    return parser


def command_name(args: argparse.Namespace) -> str:
    """`run`, or `env gc`, `recipes list`: what the JSON envelope's `command` says."""
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if isinstance(action, str) else str(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        options, rest = split_globals(argv)
        args = parse(rest, options.json)
    except HelpExit as e:  # --json --help: the help text is the envelope's data
        emit_json(
            envelope(rest[0] if rest and not rest[0].startswith("-") else "", data={"help": e.text})
        )
        return 0
    except UsageExit as e:  # argparse printed the usage and the message on stderr
        if "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv:
            emit_json(envelope(e.prog.removeprefix("mlenv").strip(), error=_usage_error(e)))
        return 2
    if not args.command:
        build_parser().print_help(sys.stderr)
        if options.json:
            emit_json(envelope("", error=_usage_error(UsageExit("no command given"))))
        return 2
    errors = make_console()  # errors show even with -q
    ctx = Context(options=options, console=make_console(quiet=options.verbosity < 0))
    name = command_name(args)
    try:
        with stdout_to_stderr(options.json):  # --json: stdout holds the envelope alone
            outcome = _execute(args, ctx, errors)
    except KeyboardInterrupt:
        errors.print("[red]interrupted[/red]")
        if options.json:
            emit_json(envelope(name, error=MlenvError("interrupted")))
        return 130
    if options.json:
        emit_json(envelope(name, data=outcome.data, error=outcome.error))
    return outcome.code


def parse(rest: list[str], json_mode: bool) -> argparse.Namespace:
    """The parsed command line; under `--json`, what `--help`/`--version` print goes into a
    HelpExit instead of stdout (stdout holds the envelope alone)."""
    parser = build_parser(rest[0] if rest else None)
    if not json_mode:
        return parser.parse_args(rest)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            return parser.parse_args(rest)
    except SystemExit as e:
        if isinstance(e, UsageExit) or e.code not in (0, None):
            raise
        raise HelpExit(printed.getvalue()) from None


def _usage_error(e: UsageExit) -> UsageError:
    return UsageError(e.message, where="the command line", hint=f"see `{e.prog} --help`")


def _execute(args: argparse.Namespace, ctx: Context, errors: Console) -> Outcome:
    """Run the command; every failure becomes an Outcome whose error is rendered here, once
    (on `errors`, which -q does not silence)."""
    try:
        returned = args.func(args, ctx)
    except (MlenvError, OSError) as e:  # OSError: a file where a folder should be, a full disk
        if ctx.options.debug:
            errors.print_exception()
        error = e if isinstance(e, MlenvError) else os_error(e)
        render_error(errors, error)
        return Outcome(code=1, error=error)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # a bug in mlenv: say so plainly; --debug shows the traceback
        if ctx.options.debug:
            raise
        errors.print(f"[bold red]internal error:[/bold red] {type(e).__name__}: {e}")
        errors.print("  [green]hint:[/green] run again with --debug and report the traceback")
        return Outcome(code=1, error=MlenvError(f"internal error: {type(e).__name__}: {e}"))
    outcome = returned if isinstance(returned, Outcome) else Outcome(code=int(returned or 0))
    if outcome.error is not None:
        render_error(errors, outcome.error)
    return outcome


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
