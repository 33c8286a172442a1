"""The share ops called as a program would call them (no CLI): `ops.pack.pack`,
`ops.reproduce.reproduce`, `ops.export.export` on a `Project` of the offline project, and the
verdict rules of `ops.verdicts` on plain result documents."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlenv.envs.bundle import BUNDLE_FILE
from mlenv.errors import LockError, UsageError
from mlenv.ops import export as export_op
from mlenv.ops import pack as pack_op
from mlenv.ops import reproduce as reproduce_op
from mlenv.ops import verdicts
from mlenv.ops.install import install
from mlenv.ops.project import Project
from mlenv.ops.resolve import resolve
from mlenv.reporter import NullReporter


class Recorder(NullReporter):
    """A reporter that keeps what the op said."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def files_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _project(folder: Path, environ: dict[str, str], reporter: Recorder | None = None) -> Project:
    return Project(
        manifest_path=folder / "mlenv.yaml", environ=environ, reporter=reporter or Recorder()
    )


@pytest.fixture
def installed(tmp_path: Path, server: Any, helpers: Any) -> tuple[Any, Project]:
    """The offline project resolved and installed through the ops (its store filled)."""
    files = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    project = _project(files.root, files.environ())
    resolve(project)
    install(project)
    return files, project


def _record_result(project: Project, sps: float = 1000.0) -> Path:
    """A result.json of this lock, as `mlenv run` leaves one."""
    section = project.lock_section(project.lock(), None)
    folder = project.project_dir / "results" / section.name / "tiny" / "Offline" / "performance"
    folder /= "run_1"
    folder.mkdir(parents=True)
    doc = {
        "scenario": "Offline",
        "mode": "performance",
        "valid": True,
        "samples_per_second": sps,
        "latency_ns": {"p50": 10, "p90": 20, "p99": 30},
        "settings": {"min_duration": 100},
        "lock": section.digest(),
    }
    (folder / "result.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder / "result.json"


def test_pack_returns_the_bundle_and_counts_its_results(
    installed: tuple[Any, Project], tmp_path: Path
) -> None:
    _, project = installed
    reporter = project.reporter
    assert isinstance(reporter, Recorder)
    empty = pack_op.pack(project, output=tmp_path / "empty.tar")
    assert empty.results == 0 and empty.skipped_results == 0
    assert any("nothing to reproduce" in w for w in reporter.warnings)
    _record_result(project)
    foreign = project.project_dir / "results" / empty.target / "other" / "result.json"
    foreign.parent.mkdir(parents=True)
    foreign.write_text(json.dumps({"lock": "sha256:" + "0" * 64}), encoding="utf-8")
    result = pack_op.pack(project, output=tmp_path / "b.tar", locked=True)
    assert result.path == (tmp_path / "b.tar").absolute() and result.path.is_file()
    assert result.results == 1 and result.skipped_results == 1
    assert result.size == result.path.stat().st_size
    with tarfile.open(result.path) as tar:
        names = tar.getnames()
    assert names[0] == BUNDLE_FILE and len(names) - 1 == result.files
    assert any(n.endswith("performance/run_1/result.json") for n in names)
    assert result.sha256 == files_sha256(result.path)


def test_pack_default_output_and_stale_refusals(
    installed: tuple[Any, Project], tmp_path: Path
) -> None:
    files, project = installed
    section = project.lock_section(project.lock(), None)
    assert (
        pack_op.default_output(project, section)
        == files.root / f"tinyproj-{section.name}.mlenv.tar"
    )
    files.manifest.write_text(files.manifest.read_text().replace("tinyproj", "renamed"))
    stale = _project(files.root, files.environ())
    with pytest.raises(LockError, match="changed since the lock was written"):
        pack_op.pack(stale, output=tmp_path / "x.tar", frozen=True)
    with pytest.raises(LockError, match="--locked"):
        pack_op.pack(stale, output=tmp_path / "x.tar", locked=True)
    assert not (tmp_path / "x.tar").exists()


def test_reproduce_offline_without_a_manifest_of_its_own(
    installed: tuple[Any, Project], tmp_path: Path, server: Any
) -> None:
    """The user's Project needs no manifest; the bundle is installed into its own project and
    home under `out`, offline; a recorded result with no `benchmark:` to re-run it is a lost
    `functional` badge, and every judged figure fails."""
    files, project = installed
    _record_result(project)
    bundle = pack_op.pack(project, output=tmp_path / "b.tar").path
    server.stop()
    user = _project(tmp_path / "elsewhere", files.environ(), Recorder())
    out = tmp_path / "repro"
    result = reproduce_op.reproduce(user, bundle, out=out, tolerance=5.0)
    rep = result.reproduction
    assert not result.reproduced
    got = {b.name: b for b in rep.badges}
    assert got["available"].awarded
    assert not got["functional"].awarded and "no `benchmark:`" in got["functional"].reasons[0]
    assert not got["reproduced"].awarded
    judged = [f for f in rep.figures if f.rule != "info"]
    assert [f.metric for f in judged] == ["valid", "samples_per_second"]
    assert all(f.ok is False for f in judged)
    assert rep.env_differences == ()
    assert result.environment is not None and result.environment.is_relative_to(out / "project")
    assert (out / "home" / "store").is_dir()
    on_disk = json.loads(result.reports["json"].read_text())
    assert on_disk == rep.to_dict() and on_disk["ok"] is False
    assert "## Machines" in result.reports["md"].read_text()
    assert result.reports["html"].read_text().startswith("<!DOCTYPE html>")
    assert rep.machine["name"] == user.host.name


def test_reproduce_refuses_before_touching_anything(tmp_path: Path) -> None:
    user = _project(tmp_path, {"MLENV_HOME": str(tmp_path / "home")})
    with pytest.raises(UsageError, match="no bundle at"):
        reproduce_op.reproduce(user, tmp_path / "nope.tar", out=tmp_path / "r", tolerance=5)
    (tmp_path / "b.tar").write_bytes(b"x")
    with pytest.raises(UsageError, match="negative"):
        reproduce_op.reproduce(user, tmp_path / "b.tar", out=tmp_path / "r", tolerance=-1)
    assert not (tmp_path / "r").exists()


def test_export_text_and_file(installed: tuple[Any, Project], tmp_path: Path) -> None:
    _, project = installed
    text = export_op.export(project, "requirements")
    assert text.path is None and "--hash=sha256:" in text.text
    written = export_op.export(project, "pylock", output=tmp_path / "sub" / "pylock.toml")
    assert written.path == (tmp_path / "sub" / "pylock.toml").absolute()
    assert written.path.read_text() == written.text and written.format == "pylock"


# -- the verdict rules, on plain documents ---------------------------------------------------


def _perf(sps: float, valid: bool = True) -> dict[str, Any]:
    return {"scenario": "Offline", "mode": "performance", "valid": valid, "samples_per_second": sps}


@pytest.mark.parametrize(
    ("recorded", "reproduced", "tolerance", "ok"),
    [
        (100.0, 105.0, 5.0, True),
        (100.0, 95.0, 5.0, True),
        (100.0, 105.01, 5.0, False),
        (0.0, 0.0, 5.0, True),
        (0.0, 1.0, 5.0, False),
        (100.0, None, 5.0, False),
        (100.0, 100.0, 0.0, True),
    ],
)
def test_within_tolerance(recorded: Any, reproduced: Any, tolerance: float, ok: bool) -> None:
    assert verdicts._within(recorded, reproduced, tolerance) is ok


def test_compare_and_badges() -> None:
    figures = verdicts.compare([_perf(100.0)], [_perf(103.0)], 5.0)
    assert {f.metric: f.ok for f in figures} == {"valid": True, "samples_per_second": True}
    sps = next(f for f in figures if f.metric == "samples_per_second")
    assert sps.delta_pct == pytest.approx(3.0)
    common: dict[str, Any] = {"verified_files": 4, "local": ["DATA"], "runs": 1, "tolerance": 5.0}
    won = verdicts.badges(missing=[], failures=[], figures=figures, **common)
    assert [b.awarded for b in won] == [True, True, True]
    assert any("$DATA" in r for r in won[0].reasons)
    slow = verdicts.compare([_perf(100.0)], [_perf(80.0)], 5.0)
    lost = verdicts.badges(missing=[], failures=[], figures=slow, **common)
    assert [b.awarded for b in lost] == [True, True, False]
    assert "-20.0 %, tolerance 5 %" in lost[2].reasons[0]
