"""Measurements (CONTRACTS §11), mlenv's side: profiles and their precedence under explicit
settings, subsets, repeats with medians, what calibration may choose, and what mlenv measures
around the harness (energy from a powercap-shaped folder the test writes and advances, peak
RSS, the machine, the env's size), all in the published result.json.

Real runs, offline, on the cheapest runnable project (`tests/support/nullrun.py`).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runproject import opened_project

import mlenv
from mlenv.errors import UsageError
from mlenv.manifest import load_manifest
from mlenv.ops import run as op
from mlenv.ops.measure import (
    QUICK_SETTINGS,
    Measure,
    detail_values,
    median_index,
    merge_repeats,
    pin,
)

pytest.importorskip("mlperf_loadgen")

SHORT = {"min_duration": 200}  # explicit: wins over the quick profile's 1000 ms
J = 1_000_000  # uJ in a joule


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, mlenv.Project]]:
    with opened_project(tmp_path_factory.mktemp("measure")) as (written, project):
        project.resolve()
        project.install()
        yield written, project


def _run(project: mlenv.Project, scenario: str = "Offline", **options: Any) -> dict[str, Any]:
    options.setdefault("settings", SHORT)
    (doc,) = project.run(
        scenarios=[scenario], modes=["performance"], frozen=True, allow_invalid=True, **options
    )
    return doc


def _published(written: Any, doc: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    (folder,) = (written.root / "results").glob(f"*/zeromodel/{doc['scenario']}/performance")
    return folder, json.loads((folder / "run_1" / "result.json").read_text())


def test_repeats_give_medians_and_list_every_repeat(opened: tuple[Any, mlenv.Project]) -> None:
    written, project = opened
    doc = _run(project, repeat=3)
    repeats = doc["repeats"]
    assert len(repeats) == 3
    assert all(set(r) == {"samples_per_second", "latency_ns", "valid"} for r in repeats)
    rates = [r["samples_per_second"] for r in repeats]
    assert doc["samples_per_second"] == statistics.median(rates)
    for p in ("p50", "p90", "p99"):
        assert doc["latency_ns"][p] == round(statistics.median(r["latency_ns"][p] for r in repeats))
    assert doc["valid"] is all(r["valid"] for r in repeats)
    # calibration ran in the first repeat; its choices are what the result records
    assert doc["benchmark_config"]["calibrated"] is True
    # one run_1/ with the median repeat's LoadGen logs, nothing else left behind
    folder, published = _published(written, doc)
    assert published == doc
    assert sorted(p.name for p in folder.iterdir()) == ["run_1"]
    run_1 = folder / "run_1"
    assert (run_1 / "mlperf_log_summary.txt").is_file()
    assert not list(run_1.glob("repeat_*"))
    logged = detail_values(run_1, ["result_samples_per_second"])["result_samples_per_second"]
    assert logged == pytest.approx(sorted(rates)[1], rel=1e-5)  # the median repeat's logs


def test_the_quick_profile_is_recorded_and_explicit_settings_win(
    opened: tuple[Any, mlenv.Project],
) -> None:
    _, project = opened
    doc = _run(
        project, "SingleStream", settings={**SHORT, "SingleStream": {"target_latency": 0.01}}
    )
    assert doc["profile"] == "quick"
    settings = doc["settings"]
    assert settings["min_duration"] == 200  # explicit over quick's 1000
    assert settings["min_query_count"] == QUICK_SETTINGS["SingleStream"]["min_query_count"]
    assert settings["target_latency"] == 0.01  # fixed by the user: not calibrated
    assert "target_latency" not in doc["benchmark_config"]["calibrated_keys"]
    # no explicit min_duration: quick's own
    default = _run(project, settings={"Offline": {"target_qps": 100_000}})
    assert default["profile"] == "quick" and default["settings"]["min_duration"] == 1000
    assert "target_qps" not in default["benchmark_config"]["calibrated_keys"]


def test_submission_keeps_mlperf_conf_and_refuses_subsets(
    opened: tuple[Any, mlenv.Project],
) -> None:
    _, project = opened
    doc = _run(project, "SingleStream", profile="submission", settings={"min_duration": 100})
    assert doc["profile"] == "submission"
    assert "min_query_count" not in doc["settings"]  # no quick settings under submission
    with pytest.raises(UsageError, match="whole dataset") as caught:
        _run(project, profile="submission", samples=8)
    assert caught.value.hint and "--samples" in caught.value.hint
    with pytest.raises(UsageError, match="unknown profile"):
        _run(project, profile="fast")


def test_a_subset_is_recorded(opened: tuple[Any, mlenv.Project]) -> None:
    _, project = opened
    doc = _run(project, samples=16)
    assert doc["samples"] == 16
    with pytest.raises(UsageError, match="has 64"):
        _run(project, samples=65)
    with pytest.raises(UsageError, match="at least 1"):
        _run(project, repeat=0)


def test_memory_machine_and_env_size(opened: tuple[Any, mlenv.Project]) -> None:
    _, project = opened
    doc = _run(project, "SingleStream")
    assert doc["memory"]["peak_rss_bytes"] > 0
    machine = doc["machine"]
    assert machine["cores"] >= 1 and "cpu" in machine and "accelerators" in machine
    assert doc["env"]["bytes"] > 0


class FakeRapl:
    """One RAPL package zone under a powercap-shaped folder, advanced by a thread; its counter
    wraps (a small max_energy_range_uj) during the run."""

    WRAP_UJ = 3 * J

    def __init__(self, root: Path) -> None:
        self.zone = root / "intel-rapl:0"
        self.zone.mkdir(parents=True)
        (self.zone / "name").write_text("package-0\n")
        (self.zone / "max_energy_range_uj").write_text(f"{self.WRAP_UJ}\n")
        (self.zone / "energy_uj").write_text("0\n")
        self.stop = threading.Event()
        self.total = 0
        self.thread = threading.Thread(target=self._advance, daemon=True)

    def _advance(self) -> None:
        while not self.stop.wait(0.01):
            self.total += 20_000  # 2 W at 100 Hz
            tmp = self.zone / ".energy_uj.tmp"
            tmp.write_text(f"{self.total % self.WRAP_UJ}\n")
            os.replace(tmp, self.zone / "energy_uj")

    def __enter__(self) -> FakeRapl:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_energy_from_rapl_around_the_timed_window(
    opened: tuple[Any, mlenv.Project], tmp_path: Path
) -> None:
    written, _ = opened
    environ = {
        **written.environ(),
        "MLENV_POWERCAP_ROOT": str(tmp_path / "powercap"),
        "MLENV_ENERGY_METERS": "rapl",
    }
    project = mlenv.Project.open(written.root, environ=environ)
    with FakeRapl(tmp_path / "powercap") as rapl:
        doc = _run(project, settings={"min_duration": 1000})
    assert rapl.total > FakeRapl.WRAP_UJ  # the counter wrapped while the run went
    energy = doc["energy"]
    assert energy["source"] == "rapl"
    seconds = (doc["window_ns"]["end"] - doc["window_ns"]["start"]) / 1e9
    assert 0 < energy["joules"] < 2.0 * seconds * 3  # about 2 W over the window
    assert energy["samples_per_joule"] > 0


def test_no_meter_no_energy(opened: tuple[Any, mlenv.Project]) -> None:
    written, _ = opened
    environ = {**written.environ(), "MLENV_ENERGY_METERS": "none"}
    project = mlenv.Project.open(written.root, environ=environ)
    doc = _run(project, "SingleStream")
    assert doc["energy"] is None
    bad = mlenv.Project.open(written.root, environ={**environ, "MLENV_ENERGY_METERS": "volts"})
    with pytest.raises(UsageError, match="unknown meter volts") as caught:
        _run(bad, "SingleStream")
    assert caught.value.hint


# -- what is asked of the harness, without running it -------------------------------------


def test_calibration_is_asked_for_what_the_user_left_open(tmp_path: Path) -> None:
    manifest = tmp_path / "mlenv.yaml"
    manifest.write_text(
        "name: x\nrequires: [a]\n"
        "benchmark: {model: m, dataset: d, backend: b, max-batch: 1024, profile: submission,"
        " samples: 8}\n"
    )
    bench = load_manifest(manifest).benchmark
    assert bench is not None
    assert bench.fixed == {"max-batch"}  # written, even at its default
    assert (bench.profile, bench.samples) == ("submission", 8)
    measure = Measure(fixed=bench.fixed)
    assert measure.calibrate("Offline", {"target_latency": 5}) == {
        "threads": True, "max-batch": False, "workers": True, "expected": True,
    }  # fmt: skip
    assert measure.calibrate("Offline", {"target_qps": 5})["expected"] is False
    assert measure.calibrate("MultiStream", {"samples_per_query": 4})["expected"] is False
    assert measure.calibrate("Server", {"target_latency": 5})["expected"] is True
    plain = load_manifest(_write(tmp_path / "plain", "{model: m, dataset: d, backend: b}"))
    assert plain.benchmark is not None and plain.benchmark.fixed == frozenset()
    assert plain.digest() != load_manifest(manifest).digest()


def _write(folder: Path, benchmark: str) -> Path:
    folder.mkdir()
    (folder / "mlenv.yaml").write_text(f"name: x\nrequires: [a]\nbenchmark: {benchmark}\n")
    return folder / "mlenv.yaml"


def test_profiles_lay_settings_under_the_explicit_ones() -> None:
    quick = Measure()
    assert quick.settings("Server", {"min_query_count": 16}) == {
        "min_duration": 1000,
        "min_query_count": 16,
    }
    assert quick.settings("Offline", {}) == {"min_duration": 1000}
    assert Measure(profile="submission").settings("Server", {"x": 1}) == {"x": 1}
    config = {"scenario": "Offline", "mode": "performance", "settings": {}, "backend": {}}
    applied = Measure(samples=8).apply(config)
    assert applied["samples"] == 8 and applied["calibrate"]["expected"] is True


def test_pinning_fixes_what_calibration_chose() -> None:
    config = {
        "backend": {"name": "null", "threads": 0, "max_batch": 1024, "workers": 0},
        "settings": {"min_duration": 100},
        "calibrate": {"threads": True, "max-batch": True, "workers": True, "expected": True},
    }
    doc = {
        "settings": {"min_duration": 100, "target_qps": 1234.0},
        "benchmark_config": {
            "threads": 2, "max-batch": 8, "workers": 3, "calibrated": True,
            "calibrated_keys": ["max-batch", "target_qps"],
        },
    }  # fmt: skip
    pinned = pin(config, doc)
    assert pinned["backend"] == {"name": "null", "threads": 2, "max_batch": 8, "workers": 3}
    assert pinned["settings"] == {"min_duration": 100, "target_qps": 1234.0}
    assert not any(pinned["calibrate"].values())
    assert pin(config, {"settings": {}}) == config  # an older harness: nothing to pin


def test_merging_repeats() -> None:
    def doc(rate: float, p90: int, valid: bool = True, rss: int = 1) -> dict[str, Any]:
        return {
            "samples_per_second": rate,
            "latency_ns": {"p50": p90 // 2, "p90": p90, "p99": p90 * 2},
            "valid": valid,
            "memory": {"peak_rss_bytes": rss},
            "benchmark_config": {"calibrated": rate == 30.0},
        }

    docs = [doc(30.0, 10), doc(10.0, 30, rss=5), doc(20.0, 20, valid=False), doc(40.0, 5)]
    middle = median_index(docs)
    assert docs[middle]["samples_per_second"] == 20.0  # the lower middle of four
    merged = merge_repeats(docs, middle)
    assert merged["samples_per_second"] == 25.0
    assert merged["latency_ns"] == {"p50": 8, "p90": 15, "p99": 30}
    assert merged["valid"] is False and len(merged["repeats"]) == 4
    assert merged["memory"] == {"peak_rss_bytes": 5}
    assert merged["benchmark_config"] == {"calibrated": True}  # the first repeat's


def test_run_request_defaults_follow_the_manifest(opened: tuple[Any, mlenv.Project]) -> None:
    _, project = opened
    bench = project.manifest.benchmark
    assert bench is not None
    measure = op.measure_of(project, bench, op.RunRequest())
    assert (measure.profile, measure.samples, measure.repeat) == ("quick", None, 1)


def test_the_command_line_flags() -> None:
    from mlenv.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "--profile", "submission", "--samples", "3", "--repeat", "2"])
    assert (args.profile, args.samples, args.repeat) == ("submission", 3, 2)
    args = parser.parse_args(["run"])
    assert (args.profile, args.samples, args.repeat) == (None, None, 1)
    for bad in (["--repeat", "0"], ["--samples", "x"], ["--profile", "fast"]):
        with pytest.raises(SystemExit) as caught:
            parser.parse_args(["run", *bad])
        assert caught.value.code == 2
