"""export: one lock section in another tool's format (pip requirements, PEP 751 pylock, conda
explicit, a Dockerfile), as text or written to a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlenv import __version__
from mlenv.errors import UsageError
from mlenv.exporters import FORMATS, ExportContext
from mlenv.exporters import export as write_format

from .project import Project

__all__ = ["FORMATS", "ExportResult", "export"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportResult:
    format: str
    target: str  # the lock section exported
    text: str  # the file's content
    path: Path | None = None  # where it was written (None: the caller shows `text`)


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
    project: Project, fmt: str, *, target: str | None = None, output: Path | None = None
) -> ExportResult:
    """The lock section of `target` (default: this machine's) in format `fmt`; written to
    `output` when given (its folders created)."""
    section = project.lock_section(project.lock(), target)
    text = write_format(
        fmt,
        section,
        ExportContext(
            lock_file=_relative(project, project.lock_path),
            manifest_file=_relative(project, project.manifest_path),
            recipe_folders=_recipe_folders(project, fmt),
            mlenv_spec=f"mlenv=={__version__}",
            base_dir=project.project_dir,
            generator=f"mlenv {__version__}",
        ),
    )
    if output is None:
        return ExportResult(format=fmt, target=section.name, text=text)
    out = output.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    project.reporter.info(f"wrote {out} ({fmt}, target {section.name})")
    return ExportResult(format=fmt, target=section.name, text=text, path=out)
