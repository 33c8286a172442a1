"""The CLI side of the harness: which runs `mlenv run` starts, the run config, the table."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from mlenv.ops import benchrun
from mlenv.cli.table import results_table
from mlenv.errors import RunError
from mlenv.lock import ArtifactPin, LockTarget
from mlenv.manifest import Benchmark


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
        ctx: Any, env: Any, section: Any, bench: Any, scenario: str, mode: str, settings: Any,
        out: Path, *, compliance: str | None = None, reference_dir: Path | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        calls.append((scenario, mode, compliance, out))
        return {"scenario": scenario, "mode": mode, "settings": settings}

    monkeypatch.setattr(benchrun, "run_config", fake_config)
    monkeypatch.setattr(benchrun, "run_harness", lambda env, config, ctx: config)
    return calls


def _run(tmp_path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    ctx = SimpleNamespace(reporter=SimpleNamespace(info=lambda message: None))
    bench = Benchmark(model="m", dataset="d", backend="onnxruntime")
    return benchrun.run_benchmark(
        ctx,  # type: ignore[arg-type]
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
