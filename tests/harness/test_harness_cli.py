"""The CLI side of the harness: which runs `mlenv run` starts, the run config, the table, and
that nothing the harness prints reaches `--json`'s stdout."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from mlenv.cli.commands.run import parse_settings
from mlenv.cli.table import results_table
from mlenv.errors import RunError, UsageError
from mlenv.lock import ArtifactPin, LockTarget
from mlenv.manifest import Benchmark
from mlenv.ops import benchrun


def _section(*pins: ArtifactPin) -> LockTarget:
    return LockTarget(name="host-cpu", facts={}, artifacts=pins)


def test_dataset_digest_comes_from_the_lock() -> None:
    member = ArtifactPin(
        name="digits.csv.gz", package="digits", sha256="a" * 64, member_sha256="b" * 64
    )
    other = ArtifactPin(name="m.onnx", package="model", sha256="c" * 64)
    assert benchrun.dataset_digest(_section(member, other), "digits") == "sha256:" + "b" * 64
    tree = ArtifactPin(name="imagenet", package="imagenet", local_env="X", tree_sha256="d" * 64)
    assert benchrun.dataset_digest(_section(tree), "imagenet") == "tree:" + "d" * 64
    unhashed = ArtifactPin(name="imagenet", package="imagenet", local_env="X")
    assert benchrun.dataset_digest(_section(unhashed), "imagenet") is None


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None, Path]]:
    """run_benchmark with the harness replaced: (scenario, mode, test, output folder)."""
    calls: list[tuple[str, str, str | None, Path]] = []

    def fake_config(
        project: Any, env: Any, section: Any, bench: Any, scenario: str, mode: str, settings: Any,
        out: Path, *, compliance: str | None = None, reference_dir: Path | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        calls.append((scenario, mode, compliance, out))
        return {"scenario": scenario, "mode": mode, "settings": settings}

    monkeypatch.setattr(benchrun, "run_config", fake_config)
    monkeypatch.setattr(benchrun, "run_harness", lambda env, config, project: config)
    return calls


def _run(tmp_path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    project = SimpleNamespace(reporter=SimpleNamespace(info=lambda message: None))
    bench = Benchmark(model="m", dataset="d", backend="onnxruntime")
    return benchrun.run_benchmark(
        project,  # type: ignore[arg-type]
        _section(),
        None,  # type: ignore[arg-type]
        bench,
        overrides={None: {"min_duration": 10}},
        results_root=tmp_path,
        **kwargs,
    )


def test_compliance_runs_after_its_reference_runs(
    planned: list[tuple[str, str, str | None, Path]], tmp_path: Path
) -> None:
    _run(
        tmp_path,
        scenarios=["Offline", "Server"],
        modes=["accuracy"],
        compliance=["TEST01", "TEST04"],
    )
    base = tmp_path / "host-cpu" / "m"
    assert planned == [
        ("Offline", "accuracy", None, base / "Offline" / "accuracy"),
        ("Offline", "performance", None, base / "Offline" / "performance" / "run_1"),
        ("Offline", "performance", "TEST01", base / "Offline" / "TEST01"),
        ("Offline", "performance", "TEST04", base / "Offline" / "TEST04"),
        ("Server", "accuracy", None, base / "Server" / "accuracy"),
        ("Server", "performance", None, base / "Server" / "performance" / "run_1"),
        ("Server", "performance", "TEST01", base / "Server" / "TEST01"),
        ("Server", "performance", "TEST04", base / "Server" / "TEST04"),
    ]


def test_without_compliance_only_the_modes_asked(
    planned: list[tuple[str, str, str | None, Path]], tmp_path: Path
) -> None:
    results = _run(tmp_path, scenarios=["SingleStream"], modes=["accuracy"])
    assert [(s, m, t) for s, m, t, _ in planned] == [("SingleStream", "accuracy", None)]
    assert results[0]["settings"] == {"min_duration": 10}
    with pytest.raises(RunError, match="unknown compliance test TEST05"):
        _run(tmp_path, scenarios=["Offline"], modes=["accuracy"], compliance=["TEST05"])


def test_table_shows_compliance_verdicts() -> None:
    base = {"benchmark": "m", "dataset": "d", "scenario": "Offline", "target": {"name": "t"}}
    rows = [
        {**base, "mode": "performance", "valid": True, "samples_per_second": 1000.0,
         "latency_ns": {"p50": 1_000_000, "p90": 2_000_000, "p99": 3_000_000}},
        {**base, "mode": "performance", "valid": True, "samples_per_second": 990.0,
         "latency_ns": {"p50": 1, "p90": 2, "p99": 3},
         "compliance": {"test": "TEST04", "pass": False, "checks": {}}},
        {**base, "mode": "accuracy", "valid": True, "accuracy": {"top1": 0.75}},
    ]  # fmt: skip
    console = Console(width=120, record=True, color_system=None)
    console.print(results_table(rows))
    text = console.export_text()
    assert "TEST04" in text and "FAIL" in text and "VALID" in text and "top1 0.7500" in text
    assert "2.000" in text  # p90 in ms


MANIFEST = """
name: x
requires: [m, d, onnxruntime]
benchmark: {model: m, dataset: d, backend: onnxruntime%s}
"""


def test_manifest_worker_fields(tmp_path: Path) -> None:
    from mlenv.errors import MlenvError
    from mlenv.manifest import load_manifest

    path = tmp_path / "mlenv.yaml"
    path.write_text(MANIFEST % "")
    plain = load_manifest(path)
    assert plain.benchmark is not None
    assert (plain.benchmark.workers, plain.benchmark.max_delay_us) == (0, 100)
    # not written when left at their defaults: existing locks keep their manifest digest
    assert "workers" not in plain.benchmark.to_dict()
    assert "max-delay-us" not in plain.benchmark.to_dict()
    path.write_text(MANIFEST % ", workers: 3, max-delay-us: 0")
    tuned = load_manifest(path)
    assert tuned.benchmark is not None
    assert (tuned.benchmark.workers, tuned.benchmark.max_delay_us) == (3, 0)
    assert tuned.digest() != plain.digest()
    path.write_text(MANIFEST % ", workers: -1")
    with pytest.raises(MlenvError, match="expected an integer >= 0"):
        load_manifest(path)


def _wide_rows() -> list[dict[str, Any]]:
    base = {"benchmark": "resnet50-v1.5", "dataset": "imagenet", "target": {"name": "h200-cuda12"}}
    lat = {"p50": 12_345_678_901, "p90": 23_456_789_012, "p99": 34_567_890_123}
    return [
        {**base, "scenario": "SingleStream", "mode": "performance", "valid": False,
         "samples_per_second": 1_234_567.8, "latency_ns": lat},
        {**base, "scenario": "MultiStream", "mode": "performance", "valid": True,
         "samples_per_second": 98_765.4, "latency_ns": {"p50": 1, "p90": 2_000_000, "p99": 3},
         "compliance": {"test": "TEST04", "pass": True, "checks": {}}},
        {**base, "scenario": "Offline", "mode": "accuracy", "valid": True,
         "accuracy": {"top1": 0.76456, "top5": 0.93}},
    ]  # fmt: skip


@pytest.mark.parametrize("width", [80, 250, 50])
def test_table_figures_are_never_cut(width: int) -> None:
    """At 80 columns (and narrower) columns are merged, dropped or stacked, never a figure."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(results_table(_wide_rows(), width=width))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width, text
    assert "…" not in text
    words = set(re.split(r"[\s│┃]+", text))  # cells, split on spaces and column rules
    figures = ["1,234,568", "23456.789", "34567.890", "98,765", "2.000", "0.7646", "0.9300"]
    for figure in [*figures, "INVALID", "PASS", "TEST04", "SingleStream", "MultiStream"]:
        assert figure in words, f"{figure!r} cut or missing at {width} columns\n{text}"
    if width >= 120:
        assert "12345.679" in words and "p50 ms" in text  # all of it where there is room


def test_set_gives_manifest_shaped_settings() -> None:
    assert parse_settings(["min_duration=200", "Offline.target_qps=1.5", "Server.mode=x"]) == {
        "min_duration": 200,
        "Offline": {"target_qps": 1.5},
        "Server": {"mode": "x"},
    }
    for bad, needle in [
        ("min_duration", "is not KEY=VALUE"),
        ("Ofline.target_qps=1", "unknown scenario 'Ofline'"),
        ("Offline.=1", "names no setting"),
    ]:
        with pytest.raises(UsageError, match=needle):
            parse_settings([bad])


# -- `mlenv --json run`: one JSON document on stdout, whatever the harness prints ----------------

LOUD = "HARNESS-STDOUT-NOISE"
OFFLINE = ["run", "--scenario", "Offline", "--mode", "performance", "--set", "min_duration=100"]


@pytest.fixture(scope="module")
def loud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The runnable offline project, whose environment prints to stdout at every start (a line
    of its .pth file), as chatty backends do."""
    pytest.importorskip("mlperf_loadgen")
    import localpypi as H
    import numpy
    from nullrun import write_runnable

    tmp = tmp_path_factory.mktemp("loud")
    site = Path(numpy.__file__).resolve().parents[1]
    pth = f"{site}\nimport sys; print({LOUD!r}, flush=True)\n".encode()
    wheels = H.Wheels(
        folder=tmp / "wheels",
        all=(H.build_wheel(tmp / "wheels", "hostsite", "1.0", files={"hostsite.pth": pth}),),
    )
    server = H.start_server(wheels)
    try:
        project = write_runnable(tmp / "project", tmp / "home", server)
        done = H.run_mlenv(project, "resolve")
        assert done.returncode == 0, str(done)
        yield project
    finally:
        server.stop()


def test_json_run_prints_one_document_and_the_harness_goes_to_stderr(loud: Any) -> None:
    import localpypi as H

    done = H.run_mlenv(loud, "--json", *OFFLINE, "--set", "Offline.target_qps=2000000")
    assert LOUD not in done.stdout and LOUD in done.stderr, str(done)
    doc = json.loads(done.stdout)  # exactly one JSON document, nothing else
    assert done.returncode == 0, str(done)
    assert (doc["version"], doc["command"], doc["ok"], doc["error"]) == (1, "run", True, None)
    (result,) = doc["data"]
    assert (result["scenario"], result["mode"], result["valid"]) == ("Offline", "performance", True)
    assert "samples/s" in done.stderr  # the table, on stderr


def test_json_run_invalid_exits_1_with_the_results(loud: Any) -> None:
    import localpypi as H

    done = H.run_mlenv(loud, "--json", *OFFLINE, "--set", "Offline.target_qps=1")
    assert done.returncode == 1, str(done)
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and doc["command"] == "run"
    error = doc["error"]
    assert "INVALID" in error["message"] and "Min duration satisfied: NO" in error["why"]
    assert "--set Offline.target_qps=" in error["hint"]
    (result,) = error["details"]["results"]
    assert result["valid"] is False and doc["data"] == [result]
    human = H.run_mlenv(loud, *OFFLINE, "--set", "Offline.target_qps=1")
    H.assert_user_error(human, "INVALID", "Min duration satisfied: NO", "--allow-invalid")
    assert "samples/s" in human.stderr  # the table still shows what was measured
    allowed = H.run_mlenv(loud, *OFFLINE, "--set", "Offline.target_qps=1", "--allow-invalid")
    assert allowed.returncode == 0, str(allowed)


def test_the_op_sends_the_harness_stdout_to_stderr(
    loud: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """Not only under the CLI's --json guard: the op itself never lets the harness write to
    stdout (a Python API caller's stdout stays theirs)."""
    import localpypi as H

    from mlenv.ops import run as op
    from mlenv.ops.project import Project

    project = Project.open(loud.root, environ=H.child_environ(loud.home, loud.server))
    request = op.RunRequest(
        scenarios=("Offline",),
        modes=("performance",),
        settings={"min_duration": 100, "Offline": {"target_qps": 1}},
        frozen=True,
        allow_invalid=True,
    )
    capfd.readouterr()
    (result,) = op.run(project, request).results
    out, err = capfd.readouterr()
    assert result["scenario"] == "Offline"
    assert LOUD in err and LOUD not in out
