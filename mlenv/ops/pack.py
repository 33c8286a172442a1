"""pack: one archive that installs and re-runs a lock section with no network at all: the
manifest and lock, the recipes they were solved from, every wheel, conda package and artifact
of the section (from the store, fetched if missing unless offline), and the results recorded
with this very lock."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlenv import __version__
from mlenv.envs.artifacts import ArtifactContext
from mlenv.envs.bundle import (
    BUILTIN,
    PROJECT,
    RECORDED_ENV,
    Member,
    recipe_member,
    store_members,
    write_bundle,
)
from mlenv.envs.materialize import ENV_FILE
from mlenv.envs.store import Store, sha256_file
from mlenv.errors import LockError, UsageError
from mlenv.lock import Lock, LockTarget
from mlenv.names import within
from mlenv.paths import BUILTIN_PREFIX, project_env_dir

from .install import fetch_options
from .project import Project
from .resolve import current_lock

RESULT_FILES = ("result.json", "mlperf_log_summary.txt", "accuracy.txt", "user.conf")


@dataclass(frozen=True, slots=True, kw_only=True)
class PackResult:
    path: Path  # the archive written
    sha256: str  # of the archive
    size: int  # bytes
    target: str  # the lock section packed
    files: int  # members listed in bundle.json
    builtin: int  # of them, copies of mlenv's built-in recipes
    results: int  # result.json files of this lock inside
    skipped_results: int  # result.json files left out: recorded with another lock, unreadable
    local: tuple[str, ...]  # user-supplied data (environment variables) not inside


def default_output(project: Project, section: LockTarget) -> Path:
    """`<name>-<target>.mlenv.tar` beside the manifest."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", project.manifest.name).strip("-") or "bundle"
    return project.project_dir / f"{name}-{section.name}.mlenv.tar"


def _recipe_members(project: Project, section: LockTarget) -> list[Member]:
    out = []
    for name, pkg in sorted(section.packages.items()):
        member = recipe_member(pkg.file) if pkg.file else None
        if member is None or pkg.file.startswith("/"):
            raise UsageError(
                f"the recipe of {name} ({pkg.file or 'no file label'}) lies outside the project "
                "folder, so it cannot be packed",
                where=str(project.lock_path),
                hint="keep the manifest's recipe folders inside the project folder "
                "(e.g. recipes: [./recipes]) and run `mlenv resolve`",
            )
        if pkg.file.startswith(BUILTIN_PREFIX):
            rel = pkg.file[len(BUILTIN_PREFIX) :]
            source = within(project.builtin_dir, rel, what=f"recipe of {name}")
        else:
            source = within(project.project_dir, pkg.file, what=f"recipe of {name}")
        if not source.is_file() or f"sha256:{sha256_file(source)}" != pkg.recipe:
            raise LockError(
                f"the recipe of {name} changed since the lock was written ({pkg.file})",
                where=str(source),
                why="a bundle must hold the very recipes the lock was solved from",
                hint="run `mlenv resolve` and `mlenv run` again, then pack",
            )
        out.append(Member(path=member, source=source, role="recipe"))
    return out


def _result_members(project: Project, section: LockTarget) -> tuple[list[Member], int]:
    """result.json files of this lock section (and the logs beside them); how many were skipped."""
    root = project.project_dir / "results"
    out, skipped = [], 0
    base = within(root, section.name, what="target")
    for result in sorted(base.glob("**/result.json")):
        if any(part.startswith(".") for part in result.relative_to(base).parts):
            continue  # the staging folder of a run in progress or killed (`.run_1.tmp-<pid>`)
        try:
            doc = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            skipped += 1
            continue
        if not isinstance(doc, dict) or doc.get("lock") != section.digest():
            skipped += 1
            continue
        for name in RESULT_FILES:
            path = result.parent / name
            if path.is_file():
                rel = path.relative_to(project.project_dir).as_posix()
                role = "result" if name == "result.json" else "log"
                out.append(Member(path=f"{PROJECT}/{rel}", source=path, role=role))
    return out, skipped


def _env_member(project: Project, section: LockTarget) -> list[Member]:
    path = project_env_dir(project.project_dir, section.name) / ENV_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(info, dict) or info.get("lock") != section.digest():
        return []
    return [Member(path=RECORDED_ENV, source=path, role="env")]


def _lock(project: Project, *, frozen: bool, locked: bool) -> Lock:
    """Pack never re-resolves: a bundle holds the lock its results were recorded with. With
    `locked`, a lock that would change is the error `--locked` gives everywhere."""
    lock = current_lock(project, locked=True) if locked and not frozen else project.lock()
    if lock.manifest != project.manifest.digest():
        raise LockError(
            f"{project.manifest_path.name} changed since the lock was written",
            where=str(project.lock_path),
            why="a bundle must hold the manifest its lock was solved from",
            hint="run `mlenv resolve` (and `mlenv run` to record results), then pack",
        )
    return lock


def _members(project: Project, section: LockTarget) -> tuple[list[Member], int, int]:
    """Every member of the bundle; how many results of this lock, how many others skipped."""
    members = [
        Member(path=f"{PROJECT}/mlenv.yaml", source=project.manifest_path, role="manifest"),
        Member(path=f"{PROJECT}/mlenv.lock", source=project.lock_path, role="lock"),
        *_recipe_members(project, section),
        *_env_member(project, section),
    ]
    results, skipped = _result_members(project, section)
    members += results
    project.reporter.info(f"collecting the files of {section.name} from the store")
    artifacts = ArtifactContext(
        store=Store(project.home),
        project_dir=project.project_dir,
        builtin_dir=project.builtin_dir,
        options=fetch_options(project),
        reporter=project.reporter,
        environ=project.environ,
    )
    members += store_members(section, artifacts)
    return members, sum(1 for m in results if m.role == "result"), skipped


def pack(
    project: Project,
    *,
    output: Path | None = None,
    target: str | None = None,
    frozen: bool = False,
    locked: bool = False,
) -> PackResult:
    """Write the bundle of `target`'s lock section (default: this machine's) to `output`
    (default: `default_output`); `.tar.gz` names are gzipped."""
    section = project.lock_section(_lock(project, frozen=frozen, locked=locked), target)
    out = (output or default_output(project, section)).absolute()
    if out.is_dir():
        raise UsageError(f"{out} is a folder", hint="pass a file name to -o, e.g. -o bundle.tar")
    members, n_results, skipped = _members(project, section)
    local = tuple(a.local_env for a in section.artifacts if a.local_env)
    bundle = write_bundle(
        out,
        name=project.manifest.name,
        section=section,
        mlenv_version=__version__,
        members=members,
        local=list(local),
    )
    if skipped:
        project.reporter.warn(f"skipped {skipped} result(s) recorded with another lock")
    if not n_results:
        project.reporter.warn(
            "the bundle holds no results of this lock: it installs, but there is nothing to "
            "reproduce (run `mlenv run` first)"
        )
    for var in local:
        project.reporter.warn(f"user-supplied data is not inside the bundle: ${var}")
    return PackResult(
        path=out,
        sha256=sha256_file(out),
        size=out.stat().st_size,
        target=section.name,
        files=len(bundle.files),
        builtin=sum(1 for f in bundle.files if f.path.startswith(f"{BUILTIN}/")),
        results=n_results,
        skipped_results=skipped,
        local=local,
    )
