"""The cli room's rules (DESIGN.md, "The second stage"): `mlenv/cli/` parses, calls one op and
renders. It imports neither `resolver` nor `envs`, its functions stay short, and its commands
are the README's tour, flag for flag."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tour

from mlenv.cli.main import build_parser

CLI = Path(__file__).resolve().parents[2] / "mlenv" / "cli"
FORBIDDEN = ("mlenv.resolver", "mlenv.envs", "resolver", "envs")
MAX_LINES = 40  # of a function's body, its docstring not counted


def modules() -> Iterator[tuple[str, ast.Module]]:
    """(dotted module name, its syntax tree) of every module under mlenv/cli/ (a package's
    as `….__init__`)."""
    for path in sorted(CLI.rglob("*.py")):
        name = ".".join(path.relative_to(CLI.parents[1]).with_suffix("").parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(module: str, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import, relative ones resolved, nested ones and
    `importlib.import_module("…")` calls included."""
    package = module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, target
            yield from ((node.lineno, f"{target}.{alias.name}") for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_cli_imports_neither_resolver_nor_envs() -> None:
    found = [
        f"{module}:{line} imports {name}"
        for module, tree in modules()
        for line, name in imported(module, tree)
        if forbidden(name)
    ]
    assert not found, "mlenv/cli/ may import core and mlenv.ops only:\n" + "\n".join(found)


def test_relative_imports_are_resolved() -> None:
    """The check above sees `from ...envs import x` inside mlenv/cli/commands/ as mlenv.envs."""
    tree = ast.parse("from ...envs import store\nfrom ..output import Outcome\n")
    names = {name for _, name in imported("mlenv.cli.commands.x", tree)}
    assert {"mlenv.envs.store", "mlenv.cli.output.Outcome"} <= names


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from `def` to the function's end, less its docstring."""
    end = node.end_lineno or node.lineno
    lines = end - node.lineno + 1
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        lines -= (first.end_lineno or first.lineno) - first.lineno + 1
    return lines


def test_cli_functions_are_short() -> None:
    long = sorted(
        (body_lines(node), f"{module}.{node.name} (line {node.lineno})")
        for module, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and body_lines(node) > MAX_LINES
    )
    assert not long, f"functions over {MAX_LINES} lines in mlenv/cli/:\n" + "\n".join(
        f"  {n:4} {where}" for n, where in long
    )


def test_the_tour_lists_every_command_of_the_parser_and_no_other() -> None:
    parser = build_parser()
    in_tour = {entry.name for entry in tour.tour(parser)}
    in_parser = tour.parser_names(parser)
    assert in_parser - in_tour == set(), "commands the README's tour does not show"
    assert in_tour - in_parser == set(), "commands of the README's tour that mlenv lacks"


def test_every_option_of_the_tour_exists() -> None:
    parser = build_parser()
    commands = tour.subcommands(parser)
    missing = []
    for entry in tour.tour(parser):
        sub = commands[entry.command]
        if entry.action:
            sub = tour.subcommands(sub)[entry.action]
        missing += [f"{entry.name} {o}" for o in entry.options if o not in tour.options(sub)]
    assert not missing, "options the README's tour shows that the parser lacks: " + ", ".join(
        missing
    )


def test_the_tour_parser_reads_forms_and_actions() -> None:
    readme = (
        "## A tour of the commands\n\n| command | does |\n| --- | --- |\n"
        "| `mlenv env list` / `remove [TARGET]` / `gc [--dry-run]` | … |\n"
        "| `mlenv export --format a\\|b [-o FILE]` | … |\n"
        "| `mlenv completion bash\\|zsh` | … |\n\n## Next\n| `mlenv nope` | … |\n"
    )
    entries = tour.tour(build_parser(), readme)
    assert [e.name for e in entries] == ["env list", "env remove", "env gc", "export", "completion"]
    assert entries[2].options == ["--dry-run"] and entries[3].options == ["--format", "-o"]
