"""The run op, no CLI involved: INVALID performance runs fail with LoadGen's reason and a fix
(unless allow_invalid), settings are manifest-shaped, bad requests fail before any install.

Real runs, offline, on the cheapest runnable project (`tests/support/nullrun.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runproject import opened_project

from mlenv.errors import RunError, UsageError
from mlenv.ops import run as op
from mlenv.ops.project import Project

pytest.importorskip("mlperf_loadgen")

# Offline sizes its one query from target_qps: at 1 sample/s it ends long before min_duration
SHORT_OFFLINE = {"min_duration": 100, "Offline": {"target_qps": 1}}
# Server at 500 queries/s for 100 ms: too few queries for LoadGen's early stopping
FEW_SERVER = {"min_duration": 100, "min_query_count": 16, "Server": {"target_qps": 500}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with opened_project(tmp_path_factory.mktemp("opsrun")) as (_, opened):
        opened.resolve()
        opened.install()
        yield opened


def _request(scenario: str, settings: dict[str, Any], **options: Any) -> op.RunRequest:
    return op.RunRequest(
        scenarios=(scenario,), modes=("performance",), settings=settings, frozen=True, **options
    )


def test_an_invalid_run_fails_with_loadgens_reason_and_a_fix(project: Project) -> None:
    with pytest.raises(op.InvalidRunError) as caught:
        op.run(project, _request("Offline", SHORT_OFFLINE))
    e = caught.value
    assert isinstance(e, RunError)
    assert "Offline" in e.message and "INVALID" in e.message
    assert e.why is not None and "Min duration satisfied: NO" in e.why
    assert e.hint is not None and "--set Offline.target_qps=" in e.hint
    assert "--allow-invalid" in e.hint
    (doc,) = e.details["results"]
    assert doc["valid"] is False and doc["scenario"] == "Offline"
    assert e.results == e.details["results"]
    assert e.details["invalid"][0]["unmet"] == ["Min duration satisfied"]
    # the results were published before the verdict
    summary = Path(e.details["invalid"][0]["summary"])
    assert e.where == str(summary)
    assert json.loads((summary.parent / "result.json").read_text()) == doc
    assert "Result is : INVALID" in summary.read_text()


def test_allow_invalid_returns_the_results(project: Project) -> None:
    result = op.run(project, _request("Offline", SHORT_OFFLINE, allow_invalid=True))
    (doc,) = result.results
    assert doc["valid"] is False
    assert doc["settings"]["target_qps"] == 1
    assert result.section.name == doc["target"]["name"]
    assert result.env.path.is_dir()


def test_early_stopping_asks_for_more_queries(project: Project) -> None:
    """The reason parser on a summary LoadGen really wrote, and the hint made from it."""
    result = op.run(project, _request("Server", FEW_SERVER, allow_invalid=True))
    (doc,) = result.results
    assert doc["valid"] is False
    folder = project.project_dir / "results" / result.section.name / "zeromodel" / "Server"
    reason = op.read_reason(folder / "performance" / "run_1")
    assert "Early stopping satisfied" in reason.unmet
    assert "Performance constraints satisfied" not in reason.unmet
    needed = reason.queries_needed()
    assert needed is not None and needed > 16
    hint = op.fix_hint("Server", reason, doc)
    assert "--set Server.min_query_count=" in hint
    assert int(hint.rsplit("=", 1)[1]) >= needed


REAL_SUMMARY = """\
================================================
MLPerf Results Summary
================================================
SUT name : PyFastSUT
Scenario : Server
Mode     : PerformanceOnly
Completed samples per second    : 138234.14
Result is : INVALID
  Performance constraints satisfied : NO
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: NO
Recommendations:
 * Reduce target QPS to improve latency.
Early Stopping Result:
 * Run unsuccessful.
 * Processed 100479 queries.
 * Would need to run at least 9888054 more queries,
 with the run being successful if every additional
 query were under latency.

================================================
Additional Stats
================================================
Scheduled samples per second : 1004770.07
"""


def test_an_overloaded_server_is_told_to_lower_its_load() -> None:
    reason = op.invalid_reason(REAL_SUMMARY)
    assert reason.unmet == ("Performance constraints satisfied", "Early stopping satisfied")
    assert reason.recommendations == ("Reduce target QPS to improve latency.",)
    assert reason.early_stopping[-1].endswith("if every additional query were under latency.")
    doc = {"samples_per_second": 138234.1, "settings": {"target_qps": 1000000}}
    assert op.fix_hint("Server", reason, doc) == "lower the load: --set Server.target_qps=500000"
    valid = REAL_SUMMARY.replace("INVALID", "VALID")
    assert op.invalid_reason(valid) == op.InvalidReason(unmet=(), recommendations=())


def test_settings_are_manifest_shaped() -> None:
    settings = {"min_duration": 200, "Offline": {"target_qps": 5}, "Server": {}}
    assert op.overrides_of(settings) == {
        None: {"min_duration": 200},
        "Offline": {"target_qps": 5},
        "Server": {},
    }
    with pytest.raises(UsageError, match="unknown scenario 'Ofline'"):
        op.overrides_of({"Ofline": {"target_qps": 5}})
    with pytest.raises(UsageError, match="Offline must map LoadGen keys"):
        op.overrides_of({"Offline": 5})


def test_a_bad_request_fails_before_any_run(project: Project) -> None:
    before = sorted((project.project_dir / "results").rglob("result.json"))
    with pytest.raises(UsageError, match="unknown scenario 'Nightly'") as caught:
        op.run(project, op.RunRequest(scenarios=("Nightly",)))
    assert caught.value.hint and "Offline" in caught.value.hint
    with pytest.raises(UsageError, match="unknown mode"):
        op.run(project, op.RunRequest(modes=("fast",)))
    with pytest.raises(UsageError, match="unknown scenario"):
        op.run(project, op.RunRequest(settings={"Nightly": {"min_duration": 1}}))
    assert sorted((project.project_dir / "results").rglob("result.json")) == before


def test_a_manifest_without_a_benchmark_has_nothing_to_run(tmp_path: Path) -> None:
    (tmp_path / "mlenv.yaml").write_text("name: x\ntargets: [host]\nrequires: [somepackage]\n")
    project = Project.open(tmp_path, environ={"MLENV_HOME": str(tmp_path / "home")})
    with pytest.raises(UsageError, match="no `benchmark:` section") as caught:
        op.run(project, op.RunRequest())
    assert caught.value.hint and "benchmark:" in caught.value.hint
