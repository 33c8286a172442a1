"""`mlenv` entry point: global options anywhere on the line, one module per command."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from mlenv import __version__
from mlenv.errors import MlenvError

from .context import Context, Options
from .output import Outcome, emit_json, envelope, make_console, os_error, render_error

# help lists these first, in this order; any other module of mlenv.cli.commands follows
ORDER = (
    "init", "resolve", "install", "run", "verify", "exec", "shell", "env",
    "pack", "reproduce", "diff", "export", "recipes", "targets", "completion",
)  # fmt: skip
_VALUE_GLOBALS = ("--manifest", "--lock")
_FLAG_GLOBALS = ("--json", "--offline", "--debug")
_QUIET = ("-q", "--quiet")
_VERBOSE = ("-v", "--verbose", "-vv", "-vvv")


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
                    raise SystemExit(_usage(f"{name} needs a value"))
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


def _usage(message: str) -> int:
    sys.stderr.write(f"mlenv: error: {message}\n")
    return 2


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
    parser = argparse.ArgumentParser(
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
    console = make_console()
    try:
        options, rest = split_globals(argv)
    except SystemExit as e:
        return int(e.code or 2)
    parser = build_parser(rest[0] if rest else None)
    args = parser.parse_args(rest)  # exits 2 on usage errors, as argparse does
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    ctx = Context(options=options, console=console)
    name = command_name(args)
    try:
        outcome = _execute(args, ctx)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        if options.json:
            emit_json(envelope(name, error=MlenvError("interrupted")))
        return 130
    if options.json:
        emit_json(envelope(name, data=outcome.data, error=outcome.error))
    return outcome.code


def _execute(args: argparse.Namespace, ctx: Context) -> Outcome:
    """Run the command; every failure becomes an Outcome whose error is rendered here, once."""
    options, console = ctx.options, ctx.console
    try:
        returned = args.func(args, ctx)
    except (MlenvError, OSError) as e:  # OSError: a file where a folder should be, a full disk
        if options.debug:
            console.print_exception()
        error = e if isinstance(e, MlenvError) else os_error(e)
        render_error(console, error)
        return Outcome(code=1, error=error)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # a bug in mlenv: say so plainly; --debug shows the traceback
        if options.debug:
            raise
        console.print(f"[bold red]internal error:[/bold red] {type(e).__name__}: {e}")
        console.print("  [green]hint:[/green] run again with --debug and report the traceback")
        return Outcome(code=1, error=MlenvError(f"internal error: {type(e).__name__}: {e}"))
    outcome = returned if isinstance(returned, Outcome) else Outcome(code=int(returned or 0))
    if outcome.error is not None:
        render_error(console, outcome.error)
    return outcome


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
