"""`mlenv add REQUIREMENT…`, `mlenv add model PATH`, `mlenv add dataset PATH` (CONTRACTS §17).

The first word `model` or `dataset` selects a sub-form (a requirement literally named `model`
or `dataset` is written `mlenv add "model >=0"`, or edited into mlenv.yaml by hand). The work
is `mlenv.ops.add`; this module parses and renders.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape

from mlenv.errors import UsageError
from mlenv.ops import add as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("add",)
_FORMS = ("model", "dataset")


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace("x", ",").split(",") if part.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,3,224,224, not {text!r}") from e


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(
        name, help="add requirements, or your own model or data set (`add model|dataset PATH`)"
    )
    p.add_argument(
        "words", nargs="+", metavar="REQUIREMENT", help="requirements, or model|dataset PATH"
    )
    p.add_argument(
        "--name", metavar="N", help="model/dataset: the recipe's name (default: the file's)"
    )
    p.add_argument("--task", metavar="T", help="dataset: the task (default: the model's)")
    p.add_argument(
        "--label", metavar="COLUMN", help="dataset (CSV): the label column (default: the last)"
    )
    p.add_argument("--size", type=_ints, metavar="H,W", help="dataset (images): the input size")
    p.add_argument(
        "--input-shape",
        type=_ints,
        metavar="DIMS",
        help="model (TorchScript/TFLite): e.g. -1,3,224,224",
    )
    p.add_argument(
        "--input-dtype", metavar="DTYPE", help="model (TorchScript/TFLite): e.g. float32"
    )
    p.add_argument(
        "--backend", metavar="NAME", help="model: the framework recipe (default: the format's)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing, different recipe")
    p.add_argument(
        "--no-resolve", action="store_true", help="edit mlenv.yaml only; do not re-resolve"
    )
    p.set_defaults(func=run)  # fmt: skip


def _form(args: argparse.Namespace) -> str | None:
    form = args.words[0] if args.words[0] in _FORMS else None
    if form is not None and len(args.words) != 2:
        raise UsageError(
            f"`mlenv add {form}` takes one PATH, got {len(args.words) - 1}",
            where="the command line",
            hint=f"e.g. `mlenv add {form} ./my.{'onnx' if form == 'model' else 'npz'}`",
        )
    flags = {"model": ("input_shape", "input_dtype", "backend", "name", "force"),
             "dataset": ("task", "label", "size", "name", "force"), None: ()}[form]  # fmt: skip
    for flag in ("name", "task", "label", "size", "input_shape", "input_dtype", "backend", "force"):
        if getattr(args, flag) not in (None, False) and flag not in flags:
            raise UsageError(
                f"--{flag.replace('_', '-')} is not an option of `mlenv add {form or 'REQUIREMENT'}`",
                where="the command line",
                hint="see `mlenv add --help`",
            )
    return form


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    form = _form(args)
    resolve = not args.no_resolve
    if form == "model":
        result = op.add_model(
            ctx.project, Path(args.words[1]), args.name, force=args.force, resolve=resolve,
            input_shape=args.input_shape, input_dtype=args.input_dtype, backend=args.backend,
        )  # fmt: skip
    elif form == "dataset":
        result = op.add_dataset(
            ctx.project, Path(args.words[1]), args.name, args.task, label=args.label,
            size=args.size, force=args.force, resolve=resolve,
        )  # fmt: skip
    else:
        result = op.add_requirements(ctx.project, args.words, resolve=resolve)
    return render(result, ctx)


def render(result: op.AddResult, ctx: Context) -> Outcome:
    """The human lines (the reporter already said each manifest line) and the --json data."""
    if not ctx.options.json:
        if not result.added and not result.removed:
            ctx.console.print(f"{escape(result.manifest.name)}: nothing to change")
        if result.resolved:
            state = "updated" if result.lock_changed else "unchanged"
            ctx.console.print(f"mlenv.lock {state}")
    return Outcome(data=to_data(result))


def to_data(result: op.AddResult) -> dict[str, Any]:
    return {
        "manifest": str(result.manifest),
        "added": list(result.added),
        "removed": list(result.removed),
        "kept": [{"key": k, "value": theirs, "not-set": ours} for k, theirs, ours in result.kept],
        "recipe": str(result.recipe) if result.recipe else None,
        "recipe-name": result.recipe_name,
        "resolved": result.resolved,
        "lock-changed": result.lock_changed,
    }
