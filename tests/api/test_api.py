"""The public Python API (CONTRACTS §10), used as a user would: `import mlenv`, open a project,
resolve, install, run; errors are `mlenv.MlenvError` with message, where, why and hint.

Offline, on the cheapest runnable project (`tests/support/nullrun.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runproject import opened_project

import mlenv

pytest.importorskip("mlperf_loadgen")

RESULT_KEYS = {
    "version", "benchmark", "dataset", "scenario", "mode", "valid", "samples_per_second",
    "latency_ns", "lock", "target", "backend", "settings",
}  # fmt: skip


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, mlenv.Project]]:
    with opened_project(tmp_path_factory.mktemp("api")) as pair:
        yield pair


def test_resolve_install_run(opened: tuple[Any, mlenv.Project]) -> None:
    written, _ = opened
    (written.root / "sub").mkdir()
    # a folder below the project: the manifest is found in the parent, as uv finds its own
    project = mlenv.Project.open(written.root / "sub", environ=written.environ())
    assert project.manifest_path == written.manifest

    lock = project.resolve()
    assert written.lock.is_file()
    (section,) = lock.targets.values()
    assert {"null", "zeromodel", "smalldigits"} <= set(section.packages)

    env = project.install()
    assert env.path.is_dir() and env.target == section.name

    # LoadGen pre-generates min_duration / target_latency queries: a latency below the null
    # backend's makes enough of them (too high a one runs out of queries: INVALID)
    settings = {"min_duration": 200, "SingleStream": {"target_latency": 0.001}}
    results = project.run(scenarios=["SingleStream"], modes=["performance"], settings=settings)
    (doc,) = results
    assert set(doc) >= RESULT_KEYS
    assert (doc["benchmark"], doc["dataset"]) == ("zeromodel", "smalldigits")
    assert (doc["scenario"], doc["mode"], doc["valid"]) == ("SingleStream", "performance", True)
    assert doc["samples_per_second"] > 0 and doc["latency_ns"]["p90"] > 0
    assert doc["lock"] == section.digest()
    assert doc["target"]["name"] == section.name and doc["backend"]["name"] == "null"
    assert doc["settings"]["min_duration"] == 200
    assert doc["settings"]["target_latency"] == 0.001
    folder = written.root / "results" / section.name / "zeromodel" / "SingleStream"
    assert json.loads((folder / "performance" / "run_1" / "result.json").read_text()) == doc


MEASURED_KEYS = {"profile", "samples", "benchmark_config", "energy", "memory", "model", "machine"}


def test_the_contracts_example_call(opened: tuple[Any, mlenv.Project]) -> None:
    """CONTRACTS §10's call as written: quick profile, calibrated, VALID without help."""
    _, project = opened
    results = project.run(
        scenarios=["Offline"],
        modes=["performance"],
        settings={"min_duration": 500},
        profile="quick",
    )
    (doc,) = results
    assert set(doc) >= RESULT_KEYS | MEASURED_KEYS
    assert doc["valid"] is True and doc["profile"] == "quick"
    assert doc["settings"]["min_duration"] == 500
    assert doc["benchmark_config"]["calibrated"] is True
    assert doc["memory"]["peak_rss_bytes"] > 0 and doc["machine"]["cores"] >= 1
    (again,) = project.run(
        scenarios=["Offline"], modes=["performance"], settings={"min_duration": 200},
        frozen=True, repeat=2, allow_invalid=True,
    )  # fmt: skip
    assert len(again["repeats"]) == 2


def test_per_scenario_settings_and_accepting_invalid_runs(
    opened: tuple[Any, mlenv.Project],
) -> None:
    _, project = opened
    settings = {"min_duration": 100, "Offline": {"target_qps": 1}}  # too short: INVALID
    with pytest.raises(mlenv.MlenvError) as caught:
        project.run(scenarios=["Offline"], modes=["performance"], settings=settings, frozen=True)
    e = caught.value
    assert "INVALID" in e.message and e.why and e.hint and e.where
    (doc,) = project.run(
        scenarios=["Offline"],
        modes=["performance"],
        settings=settings,
        frozen=True,
        allow_invalid=True,
    )
    assert doc["valid"] is False and doc["settings"]["target_qps"] == 1


def test_errors_are_mlenv_errors_with_a_hint(
    opened: tuple[Any, mlenv.Project], tmp_path: Path
) -> None:
    written, project = opened
    with pytest.raises(mlenv.MlenvError) as caught:
        project.run(scenarios=["Nightly"])
    assert "Nightly" in caught.value.message and caught.value.hint

    with pytest.raises(mlenv.MlenvError) as caught:
        project.install(target="no-such-target", frozen=True)
    assert caught.value.where and caught.value.hint

    empty = mlenv.Project.open(tmp_path, environ=written.environ())
    with pytest.raises(mlenv.MlenvError) as caught:
        empty.resolve()
    assert "no manifest" in caught.value.message and "mlenv init" in (caught.value.hint or "")
