"""export: one lock section in another tool's format (pip requirements, PEP 751 pylock, conda
explicit, a Dockerfile), as text or written to a file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mlenv import __version__
from mlenv.errors import UsageError
from mlenv.exporters import FORMATS, ExportContext
from mlenv.exporters import export as write_format
from mlenv.lock import LockTarget

from .dockerctx import prepare
from .project import Project

__all__ = ["FORMATS", "ExportResult", "export"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportResult:
    format: str
    target: str  # the lock section exported
    text: str  # the file's content
    path: Path | None = None  # where it was written (None: the caller shows `text`)
    context: Path | None = None  # dockerfile: the build context folder
    files: tuple[Path, ...] = ()  # dockerfile: what else was written into the context


def _relative(project: Project, path: Path) -> str:
    try:
        return path.relative_to(project.project_dir).as_posix()
    except ValueError:
        return path.name


def _recipe_folders(project: Project, fmt: str) -> tuple[str, ...]:
    """The folders a Docker build copies (the manifest's recipe folders, inside the project)."""
    if fmt != "dockerfile":
        return ()
    folders = project.manifest.recipes
    outside = [f for f in folders if f.startswith("/") or ".." in Path(f).parts]
    if outside:
        raise UsageError(
            f"recipe folder {outside[0]} lies outside the project folder, so a Docker build "
            "cannot copy it",
            hint="keep the manifest's recipe folders inside the project folder",
        )
    return folders


def export(
    project: Project,
    fmt: str,
    *,
    target: str | None = None,
    output: Path | None = None,
    mlenv_wheel: Path | None = None,
) -> ExportResult:
    """The lock section of `target` (default: this machine's) in format `fmt`; written to
    `output` when given (its folders created). A Dockerfile needs `output`: its build context
    (the folder, or the Dockerfile's path) receives the inputs and a wheel of mlenv."""
    section = project.lock_section(project.lock(), target)
    ctx = ExportContext(
        lock_file=_relative(project, project.lock_path),
        manifest_file=_relative(project, project.manifest_path),
        recipe_folders=_recipe_folders(project, fmt),
        mlenv_spec=f"mlenv=={__version__}",
        base_dir=project.project_dir,
        generator=f"mlenv {__version__}",
    )
    if fmt == "dockerfile":
        return _dockerfile(project, section, ctx, output, mlenv_wheel)
    text = write_format(fmt, section, ctx)
    if output is None:
        return ExportResult(format=fmt, target=section.name, text=text)
    out = output.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    project.reporter.info(f"wrote {out} ({fmt}, target {section.name})")
    return ExportResult(format=fmt, target=section.name, text=text, path=out)


def _dockerfile(
    project: Project,
    section: LockTarget,
    ctx: ExportContext,
    output: Path | None,
    mlenv_wheel: Path | None,
) -> ExportResult:
    if output is None:
        raise UsageError(
            "a Dockerfile needs a build context folder",
            why="the image copies the lock, the manifest and a wheel of mlenv from beside it",
            hint="pass -o DIR (or -o DIR/Dockerfile); the folder receives all of them",
        )
    write_format("dockerfile", section, ctx)  # refuses a target it cannot write, before any copy
    built = prepare(
        project,
        output,
        recipe_folders=ctx.recipe_folders,
        manifest_file=ctx.manifest_file,
        lock_file=ctx.lock_file,
        mlenv_wheel=mlenv_wheel,
    )
    ctx = replace(
        ctx,
        manifest_file=built.manifest_file,
        lock_file=built.lock_file,
        recipe_folders=built.recipe_folders,
        mlenv_wheel=built.wheel,
    )
    text = write_format("dockerfile", section, ctx)
    built.dockerfile.write_text(text, encoding="utf-8")
    project.reporter.info(
        f"wrote {built.dockerfile} (dockerfile, target {section.name}) and its build context "
        f"{built.folder} (mlenv from {built.wheel})"
    )
    return ExportResult(
        format="dockerfile",
        target=section.name,
        text=text,
        path=built.dockerfile,
        context=built.folder,
        files=built.files,
    )
