"""The build context of `mlenv export --format dockerfile`: a folder holding the Dockerfile, the
manifest, the lock, the manifest's recipe folders and a wheel of the mlenv that wrote it, so a
`docker build` installs that mlenv from the context, never a release from an index.

The wheel comes from `--mlenv-wheel PATH`, or is built (`uv build --wheel`, offline, without
build isolation) from the source checkout mlenv runs from: the folder above the `mlenv` package
whose `pyproject.toml` names the project `mlenv`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import mlenv
from mlenv.exporters import ExportError
from mlenv.index import KIND_FOLDERS
from mlenv.uvenv import NO_CONFIG, uv_environ

from .project import Project

WHEELS = "wheels"  # the context's folder of wheels


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerContext:
    folder: Path  # the build context
    dockerfile: Path
    manifest_file: str  # paths inside the context, as the Dockerfile's COPY names them
    lock_file: str
    recipe_folders: tuple[str, ...]
    wheel: str  # e.g. wheels/mlenv-0.1.0-py3-none-any.whl
    files: tuple[Path, ...]  # what was written into the context (besides the Dockerfile)


def context_paths(output: Path) -> tuple[Path, Path]:
    """(context folder, Dockerfile path) for `-o`: a folder (existing, or named with a trailing
    slash or without a suffix other than Dockerfile's), or the Dockerfile's own path."""
    out = output.absolute()
    if out.is_dir() or str(output).endswith("/") or (not out.suffix and out.name != "Dockerfile"):
        return out, out / "Dockerfile"
    return out.parent, out


def source_checkout() -> Path | None:
    """The source checkout mlenv runs from, or None (mlenv was installed from a wheel)."""
    root = Path(mlenv.__file__).resolve().parent.parent
    try:
        meta = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if meta.get("project", {}).get("name") == "mlenv" else None


def _build_wheel(project: Project, source: Path, dest: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="mlenv-wheel-") as tmp:
        # mlenv's own interpreter builds it: its setuptools, no download (works offline)
        cmd = [project.uv, "build", "--wheel", "--no-build-isolation", "--offline", NO_CONFIG]
        cmd += ["--python", sys.executable, "--quiet", "--out-dir", tmp, str(source)]
        project.reporter.debug(" ".join(cmd))
        env = uv_environ(project.environ)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=source)
        wheels = sorted(Path(tmp).glob("mlenv-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise ExportError(
                f"could not build a wheel of mlenv from {source}",
                why="; ".join(tail) or f"uv build exited with {done.returncode}",
                hint="build one yourself (uv build --wheel) and pass it with --mlenv-wheel PATH",
            )
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheels[0], dest / wheels[0].name))


def _wheel(project: Project, given: Path | None, dest: Path) -> Path:
    if given is not None:
        path = given.absolute()
        if not path.is_file() or not path.name.endswith(".whl") or "mlenv" not in path.name:
            raise ExportError(
                f"--mlenv-wheel {given}: not a wheel of mlenv",
                why="the option names an mlenv-*.whl file the image installs mlenv from",
                hint="pass the path of a wheel built with `uv build --wheel` in mlenv's checkout",
            )
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / path.name
        if target.resolve() != path.resolve():
            shutil.copy2(path, target)
        return target
    source = source_checkout()
    if source is None:
        raise ExportError(
            "cannot put mlenv into the image: this mlenv was installed from a wheel, not run "
            "from a source checkout",
            where=str(Path(mlenv.__file__).parent),
            why="the image installs mlenv from a wheel in the build context, and mlenv is not "
            "published on an index",
            hint="pass the wheel you installed mlenv from: --mlenv-wheel PATH",
        )
    return _build_wheel(project, source, dest)


def _copy_inputs(project: Project, folder: Path, recipe_folders: tuple[str, ...]) -> list[Path]:
    """Copy the manifest, the lock and the recipe folders into a context outside the project."""
    written = [folder / "mlenv.yaml", folder / "mlenv.lock"]
    shutil.copy2(project.manifest_path, written[0])
    shutil.copy2(project.lock_path, written[1])
    for rel in recipe_folders:
        for kind in (*KIND_FOLDERS, "targets"):  # only what the index reads
            src, dest = project.project_dir / rel / kind, folder / rel / kind
            if src.is_dir():
                if dest.exists():
                    shutil.rmtree(dest)
                shutil.copytree(src, dest, symlinks=False)
                written.append(dest)
    return written


def prepare(
    project: Project,
    output: Path,
    *,
    recipe_folders: tuple[str, ...],
    manifest_file: str,
    lock_file: str,
    mlenv_wheel: Path | None = None,
) -> DockerContext:
    """Fill the build context of `output` (all but the Dockerfile itself)."""
    folder, dockerfile = context_paths(output)
    folder.mkdir(parents=True, exist_ok=True)
    rels = tuple(f.strip("/").removeprefix("./") or "." for f in recipe_folders)
    wheel = _wheel(project, mlenv_wheel, folder / WHEELS)  # first: it is what fails most
    files = [wheel]
    if folder.resolve() != project.project_dir.resolve():
        files[:0] = _copy_inputs(project, folder, rels)
        manifest_file, lock_file = "mlenv.yaml", "mlenv.lock"
    return DockerContext(
        folder=folder,
        dockerfile=dockerfile,
        manifest_file=manifest_file,
        lock_file=lock_file,
        recipe_folders=rels,
        wheel=wheel.relative_to(folder).as_posix(),
        files=tuple(files),
    )
