"""`mlenv completion bash|zsh|fish`: a shell completion script, made from the parser itself."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..output import Outcome

COMMANDS = ("completion",)
SHELLS = ("bash", "zsh", "fish")
GLOBALS = ("--manifest", "--lock", "--json", "--offline", "--debug", "--quiet", "--verbose")


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(
        name,
        help="print a shell completion script",
        description="e.g. `mlenv completion bash > ~/.local/share/bash-completion/completions/"
        'mlenv`, or `eval "$(mlenv completion zsh)"`',
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    p.set_defaults(func=run)


def command_words() -> dict[str, list[str]]:
    """command -> the words it completes (sub-commands and options), read from the parser."""
    from ..main import build_parser

    parser = build_parser()
    out: dict[str, list[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in sorted(action.choices.items()):
                out[name] = _words(sub)
    return out


def _words(parser: argparse.ArgumentParser) -> list[str]:
    words: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            words += sorted(action.choices)
        else:
            words += [o for o in action.option_strings if o.startswith("--")]
    return sorted(set(words))


def bash_script(words: dict[str, list[str]]) -> str:
    cases = "".join(f'        {name}) opts="{" ".join(w)}" ;;\n' for name, w in words.items())
    return (
        "# mlenv completion for bash\n"
        "_mlenv() {\n"
        '    local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" i opts\n'
        "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        '        case "${COMP_WORDS[i]}" in -*) ;; *) cmd="${COMP_WORDS[i]}"; break ;; esac\n'
        "    done\n"
        '    case "$cmd" in\n'
        f'        "") opts="{" ".join(words)} {" ".join(GLOBALS)}" ;;\n'
        f"{cases}"
        "    esac\n"
        '    COMPREPLY=($(compgen -W "$opts ' + " ".join(GLOBALS) + '" -- "$cur"))\n'
        "}\n"
        "complete -o default -F _mlenv mlenv\n"
    )


def zsh_script(words: dict[str, list[str]]) -> str:
    return "#compdef mlenv\n# mlenv completion for zsh (through bash's)\n" + (
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(words)
    )


def fish_script(words: dict[str, list[str]]) -> str:
    names = " ".join(words)
    lines = ["# mlenv completion for fish", "complete -c mlenv -f"]
    lines.append(f'complete -c mlenv -n "not __fish_seen_subcommand_from {names}" -a "{names}"')
    for g in GLOBALS:
        if g.startswith("--"):
            lines.append(f"complete -c mlenv -l {g[2:]}")
    for name, ws in words.items():
        subs = [w for w in ws if not w.startswith("-")]
        if subs:
            lines.append(
                f'complete -c mlenv -n "__fish_seen_subcommand_from {name}" -a "{" ".join(subs)}"'
            )
        for w in ws:
            if w.startswith("--"):
                lines.append(
                    f'complete -c mlenv -n "__fish_seen_subcommand_from {name}" -l {w[2:]}'
                )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, ctx: Any) -> Outcome:
    """The script on stdout (for `eval` or a file); with --json, in the envelope's data."""
    make = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[args.shell]
    script = make(command_words())
    if not ctx.options.json:
        sys.stdout.write(script)
    return Outcome(data={"shell": args.shell, "script": script})
