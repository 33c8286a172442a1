"""add / remove: edit the manifest's `requires:` (comments kept), bring one's own model or data
set as a recipe beside the manifest, then re-resolve (CONTRACTS §17).

Every manifest write is atomic (a temporary file renamed over it) and made under the project
lock. When the re-resolve fails, the manifest (and a recipe this call wrote) is put back byte
for byte, and the error says so — as `uv add` does.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlenv import manifest_edit as me
from mlenv.errors import MlenvError, UsageError
from mlenv.requirement import NAME_RE

from . import datafile
from .datafile import file_facts, relative_url
from .locking import project_lock
from .modelfile import FORMAT_BACKENDS, ModelFile, Tensor, guess_task, inspect_model
from .project import Project
from .resolve import resolve as resolve_op

Editor = Callable[[str], me.ManifestEdit]


@dataclass(frozen=True, slots=True, kw_only=True)
class AddResult:
    manifest: Path
    added: tuple[str, ...] = ()  # manifest lines added
    removed: tuple[str, ...] = ()  # manifest lines removed
    kept: tuple[tuple[str, str, str], ...] = ()  # benchmark keys the user set: (key, theirs, ours)
    recipe: Path | None = None  # the recipe file written
    recipe_name: str | None = None
    resolved: bool = False  # the lock was re-resolved
    lock_changed: bool = False  # ... and its bytes changed


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise UsageError(
            f"no manifest at {path}", hint="run `mlenv init` to write one first"
        ) from e


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path` and rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _apply(project: Project, editors: Sequence[Editor]) -> tuple[bytes, me.ManifestEdit]:
    """Apply `editors` in turn to the manifest under the project lock; (old bytes, the edit)."""
    path = project.manifest_path
    with project_lock(project.project_dir, waiting=project.reporter.info, what="mlenv add"):
        before = _read(path)
        text = before.decode("utf-8")
        added: list[str] = []
        removed: list[str] = []
        kept: list[tuple[str, str, str]] = []
        for editor in editors:
            edit = editor(text)
            text = edit.text
            added.extend(edit.added)
            removed.extend(edit.removed)
            kept.extend(edit.kept)
        if text.encode("utf-8") != before:
            write_atomic(path, text.encode("utf-8"))
    return before, me.ManifestEdit(
        text=text, added=tuple(added), removed=tuple(removed), kept=tuple(kept)
    )


def _restore(project: Project, before: bytes, recipe: tuple[Path, bytes | None] | None) -> None:
    with project_lock(project.project_dir, waiting=project.reporter.info, what="mlenv add"):
        write_atomic(project.manifest_path, before)
        if recipe is not None:
            path, old = recipe
            if old is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, old)


def _finish(
    project: Project,
    editors: Sequence[Editor],
    *,
    resolve: bool,
    recipe: tuple[Path, bytes | None] | None = None,
) -> AddResult:
    """Edit, then re-resolve (unless `resolve` is False); undo both files when resolving fails."""
    before, edit = _apply(project, editors)
    for line in edit.added:
        project.reporter.info(f"+ {line.strip()}")
    for line in edit.removed:
        project.reporter.info(f"- {line.strip()}")
    for key, theirs, ours in edit.kept:
        project.reporter.warn(f"kept benchmark.{key}: {theirs} (not set to {ours})")
    result = AddResult(
        manifest=project.manifest_path,
        added=edit.added,
        removed=edit.removed,
        kept=edit.kept,
        recipe=recipe[0] if recipe else None,
    )
    if not resolve:
        return result
    fresh = dataclasses.replace(project)  # the edited manifest and recipes, read afresh
    try:
        solved = resolve_op(fresh)
    except MlenvError as e:
        _restore(project, before, recipe)
        undone = f"{project.manifest_path.name} is restored as it was"
        e.message = f"{e.message} ({undone})"
        e.hint = (
            f"{e.hint + '; ' if e.hint else ''}or pass --no-resolve to keep the edit unresolved"
        )
        raise
    return dataclasses.replace(result, resolved=True, lock_changed=solved.changed)


def add_requirements(project: Project, reqs: Sequence[str], resolve: bool = True) -> AddResult:
    """Add (or replace, by name) requirement strings in `requires:`, then re-resolve."""
    if not reqs:
        raise UsageError("name at least one requirement", hint="e.g. `mlenv add numpy`")
    return _finish(project, [lambda t: me.add_requirements(t, reqs)], resolve=resolve)


def remove_requirements(project: Project, names: Sequence[str], resolve: bool = True) -> AddResult:
    """Remove requirements by name from `requires:`, then re-resolve."""
    if not names:
        raise UsageError("name at least one requirement to remove")
    return _finish(project, [lambda t: me.remove_requirements(t, names)], resolve=resolve)


# -- recipes beside the manifest ---------------------------------------------------------------


def recipe_name(path: Path, name: str | None) -> str:
    """`name`, checked, or the file stem normalised to the recipe name grammar."""
    if name is not None:
        if not NAME_RE.fullmatch(name):
            raise UsageError(
                f"{name!r} is not a recipe name",
                why="recipe names are [a-z0-9][a-z0-9._-]*",
                hint="pass --name with lower-case letters, digits and . _ -",
            )
        return name
    stem = path.name if path.is_dir() else path.stem
    out = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")
    if not out or not NAME_RE.fullmatch(out):
        raise UsageError(f"cannot make a recipe name from {path.name!r}", hint="pass --name NAME")
    return out


def _recipe_path(project: Project, kind: str, name: str, text: str, force: bool) -> Path:
    path = project.project_dir / "recipes" / f"{kind}s" / f"{name}.yaml"
    if path.exists() and not force and path.read_text(encoding="utf-8") != text:
        raise UsageError(
            f"{path} already exists and differs",
            why=f"a {kind} recipe named {name} is already there",
            hint="pass --name to choose another name, or --force to overwrite it",
        )
    return path


def _write_recipe(path: Path) -> tuple[Path, bytes | None]:
    old = path.read_bytes() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, old


def _flow(t: Tensor) -> str:
    return (
        f"{{name: {me.render_scalar(t.name, flow=True)}, shape: {list(t.shape)}, dtype: {t.dtype}}}"
    )


def model_recipe(name: str, model: ModelFile, source: Path, url: str) -> str:
    sha, size = file_facts(source)
    task, why = guess_task(model)
    opset = f", opset {model.opset}" if model.opset else ""
    lines = [
        f"# written by `mlenv add model {source.name}`; edit freely (`mlenv recipes lint` checks it)",
        f"name: {name}",
        "kind: model",
        f"summary: {me.render_scalar(f'{source.name} ({model.format}{opset})', flow=False)}",
        'versions: ["1.0"]',
        f"task: {task}  # {why}",
        f"format: {model.format}",
    ]
    if not model.tensors_known and not model.inputs:
        lines.append(
            f"# the {model.format} file's tensors are not read by mlenv: state them with "
            "`mlenv add model --input-shape … --input-dtype …`, or write inputs:/outputs: here"
        )
    for key, tensors in (("inputs", model.inputs), ("outputs", model.outputs)):
        if tensors:
            lines.append(f"{key}:")
            lines.extend(f"  - {_flow(t)}" for t in tensors)
    lines += [
        "install:",
        "  # the file stays where it is; its sha256 is checked when it is installed",
        f"  - artifact: {{url: {me.render_scalar(url, flow=True)}, sha256: {sha}, size: {size}}}",
    ]
    return "\n".join(lines) + "\n"


def _stated(model: ModelFile, shape: Sequence[int] | None, dtype: str | None) -> ModelFile:
    if shape is None and dtype is None:
        return model
    if model.tensors_known:
        raise UsageError(
            f"--input-shape/--input-dtype are for TorchScript and TFLite files; this is {model.format}",
            hint="drop them: mlenv reads the tensors of this file itself",
        )
    tensor = Tensor(name="input", shape=tuple(shape or (-1,)), dtype=dtype or "float32")
    return dataclasses.replace(model, inputs=(tensor,))


def _names(text: str) -> list[str]:
    return me.requirement_names(text)


def _kind_of(project: Project, name: str) -> str | None:
    located = project.index.get(name)
    return located.recipe.kind if located is not None else None


def add_model(
    project: Project,
    path: Path,
    name: str | None = None,
    *,
    force: bool = False,
    resolve: bool = True,
    input_shape: Sequence[int] | None = None,
    input_dtype: str | None = None,
    backend: str | None = None,
) -> AddResult:
    """Inspect a model file, write `recipes/models/<name>.yaml` pointing at it, require it (and
    its backend), and start `benchmark:` when a data set is already required."""
    _ = project.manifest  # a clear error when there is no (valid) manifest
    path = Path(path).absolute()
    model = _stated(inspect_model(path), input_shape, input_dtype)
    name = recipe_name(path, name)
    recipe = project.project_dir / "recipes" / "models" / f"{name}.yaml"
    text = model_recipe(name, model, path, relative_url(path, recipe))
    recipe = _recipe_path(project, "model", name, text, force)
    saved = _write_recipe(recipe)
    write_atomic(recipe, text.encode("utf-8"))
    project.reporter.info(f"wrote {recipe} ({model.format}, {len(model.inputs)} inputs)")
    backend = backend or model.backend
    datasets = [n for n in _names(project.manifest_path.read_text(encoding="utf-8"))
                if _kind_of(project, n) == "dataset"]  # fmt: skip
    editors: list[Editor] = [
        me.ensure_recipes,
        lambda t: me.add_requirements(t, [name]),
        lambda t: me.ensure_requirements(t, [backend]),
    ]
    if len(datasets) == 1 or project.manifest.benchmark is not None:
        values = {"model": name, "backend": backend}
        if datasets:
            values["dataset"] = datasets[0]
        editors.append(lambda t: me.set_benchmark(t, values))
    result = _finish(project, editors, resolve=resolve, recipe=saved)
    return dataclasses.replace(result, recipe_name=name)


def _model_of(project: Project, text: str) -> tuple[str | None, str | None]:
    """(model, backend) the benchmark names, or that `requires:` names unambiguously."""
    bench = project.manifest.benchmark
    if bench is not None:
        return bench.model, bench.backend
    names = _names(text)
    models = [n for n in names if _kind_of(project, n) == "model"]
    frameworks = [n for n in names if _kind_of(project, n) == "framework"]
    model = models[0] if len(models) == 1 else None
    backend = None
    if model is not None:
        found = project.index.get(model)
        fmt = found.recipe.format if found is not None else None
        wanted = FORMAT_BACKENDS.get(fmt or "")
        backend = (
            wanted if wanted in frameworks else (frameworks[0] if len(frameworks) == 1 else None)
        )
    return model, backend


def add_dataset(
    project: Project,
    path: Path,
    name: str | None = None,
    task: str | None = None,
    *,
    label: str | None = None,
    size: Sequence[int] | None = None,
    force: bool = False,
    resolve: bool = True,
) -> AddResult:
    """Inspect a data set (`.npz`, CSV, or a folder of images), write
    `recipes/datasets/<name>.yaml`, require it and name it in `benchmark:`."""
    _ = project.manifest
    path = Path(path).absolute()
    name = recipe_name(path, name)
    text = project.manifest_path.read_text(encoding="utf-8")
    model, backend = _model_of(project, text)
    located = project.index.get(model) if model else None
    model_recipe_ = located.recipe if located is not None else None
    recipe = project.project_dir / "recipes" / "datasets" / f"{name}.yaml"
    body = datafile.dataset_recipe(
        name, path, recipe, task=task, label=label, size=size, model=model_recipe_
    )
    recipe = _recipe_path(project, "dataset", name, body, force)
    saved = _write_recipe(recipe)
    write_atomic(recipe, body.encode("utf-8"))
    project.reporter.info(f"wrote {recipe}")
    editors: list[Editor] = [me.ensure_recipes, lambda t: me.add_requirements(t, [name])]
    if model and backend:
        values = {"model": model, "dataset": name, "backend": backend}
        editors.append(lambda t: me.set_benchmark(t, values))
    else:
        project.reporter.warn(
            "no benchmark: yet (no single model in requires:); `mlenv add model FILE` starts it"
        )
    result = _finish(project, editors, resolve=resolve, recipe=saved)
    return dataclasses.replace(result, recipe_name=name)
