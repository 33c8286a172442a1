"""results import: `results/` folders, result.json files, `mlenv pack` bundles and the official
MLPerf summary tables into the results database (reading bundles through `mlenv.envs`, lazily)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import UsageError
from mlenv.resultsdb import ResultsDB, ResultsDBError, importer, safe_url, summary

from .project import Project
from .results import opened

# -- files in -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Imported:
    url: str
    runs: tuple[str, ...]  # the run ids recorded (or already there)
    new: int
    sources: tuple[str, ...]
    left_out: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": safe_url(self.url),
            "runs": list(self.runs),
            "new": self.new,
            "already_recorded": len(self.runs) - self.new,
            "sources": list(self.sources),
            "left_out": list(self.left_out),
        }


def import_paths(
    project: Project,
    paths: Sequence[Path],
    *,
    url: str | None = None,
    round_: str | None = None,
) -> Imported:
    """results/ folders, result.json files, `mlenv pack` bundles (.tar, .tar.gz or unpacked)
    and official MLPerf summary tables (.csv, .json; `round_` where the table does not say)."""
    if not paths:
        raise UsageError("nothing to import", hint="name results/ folders, result.json files, …")
    runs: list[str] = []
    left: list[str] = []
    with opened(project, url) as db:
        before = len(db.runs())
        for path in paths:
            runs += _import_one(project, db, Path(path).absolute(), left, round_)
        new = len(db.runs()) - before
        return Imported(
            url=db.url,
            runs=tuple(runs),
            new=new,
            sources=tuple(str(p) for p in paths),
            left_out=tuple(left),
        )


def _import_one(
    project: Project, db: ResultsDB, path: Path, left: list[str], round_: str | None
) -> list[str]:
    if not path.exists():
        raise UsageError(f"{path} does not exist", where="mlenv results import")
    if path.is_dir() and (path / "bundle.json").is_file():
        from mlenv.envs.bundle import verify_bundle

        verify_bundle(path, str(path))
        return _import_results(db, path, left)
    if path.is_dir():
        return _import_results(db, path, left)
    if path.name.endswith((".tar", ".tar.gz", ".tgz")):
        return _import_bundle(project, db, path, left)
    if summary.is_summary(path) and not _is_result_json(path):
        return _import_official(db, path, left, round_)
    return _record_found(db, importer.read_result(path), left)


def _import_bundle(project: Project, db: ResultsDB, path: Path, left: list[str]) -> list[str]:
    from mlenv.envs.bundle_tar import unpack_bundle

    with tempfile.TemporaryDirectory(prefix="mlenv-import-") as tmp:
        root = Path(tmp) / "bundle"
        project.reporter.info(f"unpacking {path.name}, checking every file's sha256")
        unpack_bundle(path, root)
        return _import_results(db, root, left)


def _import_results(db: ResultsDB, folder: Path, left: list[str]) -> list[str]:
    out: list[str] = []
    for result in importer.result_files(folder):
        out += _record_found(db, importer.read_result(result), left)
    if not out:
        raise ResultsDBError(
            f"{folder} holds no result.json",
            where=str(folder),
            hint="import the results/ folder `mlenv run` wrote, or its result.json files",
        )
    return out


def _project_of(result: Path) -> Path | None:
    """The project folder whose results/ holds `result` (the folder beside mlenv.yaml)."""
    for parent in result.parents:
        if parent.name == "results" and (parent.parent / "mlenv.yaml").is_file():
            return parent.parent
    return None


def _record_found(db: ResultsDB, found: importer.Found, left: list[str]) -> list[str]:
    doc = found.document
    project_dir = _project_of(found.path)
    target = doc.get("target")
    if project_dir is not None:
        from mlenv.manifest import load_manifest

        manifest_path = project_dir / "mlenv.yaml"
        point_id = load_manifest(manifest_path).digest()
        manifest = manifest_path.read_text(encoding="utf-8")
    elif isinstance(doc.get("lock"), str):
        point_id, manifest = f"lock:{doc['lock']}", ""
    else:
        raise ResultsDBError(
            f"{found.path} names no lock and lies in no project's results/ folder",
            where=str(found.path),
            hint="import result.json files from the results/ folder beside their mlenv.yaml",
        )
    db.record_point(
        point_id,
        sweep=None,
        parameters={},
        manifest=manifest,
        lock=doc.get("lock") if isinstance(doc.get("lock"), str) else None,
        target=target.get("name") if isinstance(target, Mapping) else None,
    )
    left += [f"{found.path.parent / name}" for name in found.skipped]
    return [db.record_run(point_id, doc, logs=found.logs)]


def _is_result_json(path: Path) -> bool:
    """A .json file that is not a table: one result.json document, or an object that is neither
    (then read_result says what a result.json is). Files named *summary* are tables."""
    if path.suffix.lower() != ".json" or "summary" in path.name.lower():
        return False
    if path.stat().st_size > importer.MAX_RESULT:
        return False
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and summary.row_list(doc) is None


def _import_official(db: ResultsDB, path: Path, left: list[str], round_: str | None) -> list[str]:
    table = summary.read_table(path, round_=round_)
    out = []
    for run in table.runs:
        db.record_point(
            run.point_id,
            sweep=None,
            parameters=run.parameters,
            manifest="",
            lock=None,
            target=run.target,
            origin=run.origin,
        )
        out.append(db.record_run(run.point_id, run.document))
    left += summary.describe([table])
    return out
