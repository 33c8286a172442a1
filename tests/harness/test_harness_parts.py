"""The harness's parts in this process: user.conf, config, SUT callbacks, log parsing, metric."""

from __future__ import annotations

import ctypes
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_testing import PACKAGE
from mlenv_harness.config import RunConfig
from mlenv_harness.data.dataset import Dataset
from mlenv_harness.errors import HarnessError
from mlenv_harness.loadgen import dispatch, sut
from mlenv_harness.loadgen.scenarios import SCENARIOS
from mlenv_harness.loadgen.userconf import user_conf
from mlenv_harness.metrics.top1 import Top1
from mlenv_harness.results import logs
from mlenv_harness.results.performance import performance

assert PACKAGE == "mlenv_harness"

EXAMPLE: dict[str, Any] = {  # the run config of the brief, verbatim
    "version": 1,
    "benchmark": "digits-mlp",
    "dataset": "digits",
    "scenario": "Offline",
    "mode": "performance",
    "output_dir": "/abs/results/linux-x86_64-cpu/digits-mlp/Offline/performance/run_1",
    "model": {
        "path": "/abs/digits-mlp.onnx",
        "format": "onnx",
        "inputs": [{"name": "input", "shape": [-1, 64], "dtype": "float32"}],
        "outputs": [{"name": "logits", "shape": [-1, 10], "dtype": "float32"}],
    },
    "data": {
        "path": "/abs/digits.csv.gz",
        "samples": 1797,
        "performance_sample_count": 1797,
        "preprocess": {"name": "digits", "params": {"scale": 16}},
        "metric": "top1",
    },
    "backend": {"name": "onnxruntime", "version": "1.20.1", "threads": 0, "max_batch": 1024},
    "settings": {"min_duration": 2000, "target_qps": 50000},
    "lock": "sha256:0",
    "target": {"name": "linux-x86_64-cpu", "facts": {}},
}


def test_config_example_parses() -> None:
    config = RunConfig.from_dict(EXAMPLE, source="example")
    assert config.model.inputs[0].shape == (-1, 64)
    assert config.data.preprocess_params == {"scale": 16}
    assert config.backend.max_batch == 1024
    assert config.target_name == "linux-x86_64-cpu"


def test_config_defaults() -> None:
    minimal = {k: v for k, v in EXAMPLE.items() if k not in ("settings", "lock", "target")}
    minimal["backend"] = {"name": "onnxruntime"}
    minimal["data"] = {k: v for k, v in EXAMPLE["data"].items() if k != "performance_sample_count"}
    config = RunConfig.from_dict(minimal, source="minimal")
    backend = config.backend
    assert (backend.threads, backend.max_batch, backend.version) == (0, 1024, None)
    assert config.data.performance_sample_count == 1797
    assert config.settings == {} and config.lock is None and config.target_name is None


def test_user_conf_renders_and_skips() -> None:
    conf = user_conf(
        {
            "target_qps": 50000.0,
            "min_duration": "200",
            "target_latency": 0.005,
            "print_timestamps": True,
        },
        "SingleStream",
    )
    assert conf.not_applicable == ("target_qps",)
    assert conf.render("m", "SingleStream") == (
        "m.SingleStream.min_duration = 200\n"
        "m.SingleStream.print_timestamps = 1\n"
        "m.SingleStream.target_latency = 0.005\n"
    )
    offline = user_conf({"target_qps": 50000.0}, "Offline")
    assert offline.render("m", "Offline") == "m.Offline.target_qps = 50000\n"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_duration": -1}, "expected a number >= 0"),
        ({"print_timestamps": 2}, "expected 0 or 1"),
        ({"target_qps": float("inf")}, "expected a number >= 0"),
        ({"bogus": 1, "mode": 1}, "bogus: not a LoadGen user.conf key; mode:"),
    ],
)
def test_user_conf_rejects(settings: dict[str, object], message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        user_conf(settings, "Offline")


def _dataset(n: int = 10) -> Dataset:
    features = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return Dataset(features=(features,), labels=np.arange(n) % 3)


def test_sample_store_loads_rows() -> None:
    store = sut.SampleStore(_dataset())
    buffers = store.buffers(4)
    store.load([5, 2])
    store.load([7])
    gathered = store.gather(np.array([7, 2, 5]), buffers)[0]
    assert gathered[:, 0].tolist() == [14, 4, 10]
    assert np.shares_memory(gathered, buffers[0])  # the worker's buffer, reused
    single = store.gather([7], buffers)[0]
    assert single.tolist() == [[14, 15]] and not np.shares_memory(single, buffers[0])
    store.unload([5, 2])
    assert store.gather(np.array([7]), buffers)[0][:, 0].tolist() == [14]
    with pytest.raises(RuntimeError, match="not loaded"):
        store.gather(np.array([2, 7]), buffers)


class _Backend:
    version = "0"

    def __init__(self, fail_on_call: int = 0) -> None:
        self.batches: list[int] = []
        self.fail_on_call = fail_on_call

    def run(self, inputs: Any) -> list[Any]:
        self.batches.append(len(inputs[0]))
        if len(self.batches) == self.fail_on_call:
            raise RuntimeError("engine exploded")
        logits = np.zeros((len(inputs[0]), 3), dtype=np.float32)
        logits[np.arange(len(inputs[0])), inputs[0][:, 0].astype(int) % 3] = 1
        return [logits]


@pytest.fixture
def completed(monkeypatch: pytest.MonkeyPatch) -> dict[int, bytes]:
    """What the workers hand to LoadGen: id -> response bytes, read during the call."""
    seen: dict[int, bytes] = {}

    def fake_complete(responses: list[tuple[int, int, int]]) -> None:
        for i, pointer, size in responses:
            seen[i] = ctypes.string_at(pointer, size) if size else b""

    monkeypatch.setattr(sut.lg, "QuerySampleResponse", lambda i, p, s: (i, p, s))
    monkeypatch.setattr(sut.lg, "QuerySamplesComplete", fake_complete)
    return seen


def _worker(backend: _Backend, failure: sut.Failure | None = None) -> sut.Worker:
    store = sut.SampleStore(_dataset())
    store.load(list(range(10)))
    return sut.Worker(
        store=store, runner=backend, metric=Top1(), max_batch=4, failure=failure or sut.Failure()
    )


def _classes(completed: dict[int, bytes]) -> dict[int, int]:
    return {i: int(np.frombuffer(b, dtype="<i4")[0]) for i, b in completed.items()}


def test_worker_batches_and_responds(completed: dict[int, bytes]) -> None:
    backend = _Backend()
    worker = _worker(backend)
    dispatch.Inline(worker).issue(list(range(100, 110)), list(range(10)))
    assert backend.batches == [4, 4, 2]
    assert _classes(completed) == {100 + k: (2 * k) % 3 for k in range(10)}
    assert worker.completed == 10
    assert worker.latency_weight == [4, 4, 2] and min(worker.latency_ns) > 0


def test_worker_failure_completes_everything(completed: dict[int, bytes]) -> None:
    backend = _Backend(fail_on_call=2)
    worker = _worker(backend)
    inline = dispatch.Inline(worker)
    inline.issue(list(range(100, 110)), list(range(10)))
    inline.issue([200], [0])
    assert str(worker.failure.error) == "engine exploded"
    assert sorted(completed) == [*range(100, 110), 200]
    assert [len(completed[i]) for i in sorted(completed)] == [4] * 4 + [0] * 7
    assert backend.batches == [4, 4]
    assert worker.completed == 11


def test_pool_batches_queries_until_flushed(completed: dict[int, bytes]) -> None:
    """Server: single-sample queries wait (up to the delay) for a fuller batch; a full batch
    goes at once; FlushQueries sends a partial one."""
    backend = _Backend()
    pool = dispatch.Pool([_worker(backend)], max_batch=4, max_delay_ns=30_000_000_000)
    try:
        for k in range(6):
            pool.issue([100 + k], [k])
        _wait_for(lambda: len(completed) == 4)
        time.sleep(0.05)
        assert backend.batches == [4]  # the other 2 wait for the delay
        pool.flush()
        _wait_for(lambda: len(completed) == 6)
        assert backend.batches == [4, 2]
    finally:
        pool.close()
    assert _classes(completed) == {100 + k: (2 * k) % 3 for k in range(6)}
    assert pool.issued == 6 and pool.workers[0].completed == 6
    assert len(pool.workers[0].latency_arrays) == 2


def test_pool_shares_an_offline_query(completed: dict[int, bytes]) -> None:
    backends = [_Backend(), _Backend()]
    failure = sut.Failure()
    pool = dispatch.Pool([_worker(b, failure) for b in backends], max_batch=4, max_delay_ns=0)
    try:
        pool.issue(list(range(100, 110)), list(range(10)))
        _wait_for(lambda: len(completed) == 10)
    finally:
        pool.close()
    assert sorted(backends[0].batches + backends[1].batches) == [2, 4, 4]
    assert _classes(completed) == {100 + k: (2 * k) % 3 for k in range(10)}
    assert sum(w.completed for w in pool.workers) == 10


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _write_detail(path: Path, records: dict[str, object], *, error: str = "") -> None:
    lines = ["garbage line"]
    for key, value in records.items():
        meta = {"is_error": False, "is_warning": False}
        lines.append(":::MLLOG " + json.dumps({"key": key, "value": value, "metadata": meta}))
    if error:
        meta = {"is_error": True, "is_warning": False}
        lines.append(
            ":::MLLOG " + json.dumps({"key": "error_runtime", "value": error, "metadata": meta})
        )
    (path / logs.DETAIL).write_text("\n".join(lines) + "\n")


def test_performance_from_detail_log(tmp_path: Path) -> None:
    values = {
        "result_validity": "INVALID",
        "result_invalid_reason": "Reduce target QPS. ",
        "result_query_count": 12,
        "result_samples_per_second": 1234.5,
        "result_mean_latency_ns": 2000,
        "result_50.00_percentile_latency_ns": 10,
        "result_90.00_percentile_latency_ns": 20,
        "result_99.00_percentile_latency_ns": 30,
    }
    _write_detail(tmp_path, values, error="Ending early")
    log = logs.read_detail_log(tmp_path)
    assert log.errors == ("error_runtime: Ending early",)
    offline = performance(log, SCENARIOS["Offline"], tmp_path)
    assert (offline.valid, offline.samples_per_second, offline.query_count) == (False, 1234.5, 12)
    assert offline.latency_ns == {"p50": 10, "p90": 20, "p99": 30}
    assert offline.invalid_reason == "Reduce target QPS."
    single = performance(log, SCENARIOS["SingleStream"], tmp_path)
    assert single.samples_per_second == 500_000.0


def test_validity_falls_back_to_summary(tmp_path: Path) -> None:
    _write_detail(tmp_path, {})
    log = logs.read_detail_log(tmp_path)
    with pytest.raises(HarnessError, match="LoadGen reported no result"):
        performance(log, SCENARIOS["Offline"], tmp_path)
    (tmp_path / logs.SUMMARY).write_text("Mode     : PerformanceOnly\nResult is : VALID\n")
    assert performance(log, SCENARIOS["Offline"], tmp_path).valid is True


def test_accuracy_log_and_top1(tmp_path: Path) -> None:
    def entry(i: int, cls: int) -> dict[str, object]:
        return {"seq_id": i, "qsl_idx": i % 4, "data": np.int32(cls).tobytes().hex().upper()}

    entries = [
        entry(0, 0),
        entry(1, 1),
        entry(2, 0),
        entry(3, 1),
        entry(4, 2),
    ]  # 4 is a repeat of 0
    (tmp_path / logs.ACCURACY).write_text(json.dumps(entries))
    responses = logs.read_accuracy_log(tmp_path)
    assert sorted(responses) == [0, 1, 2, 3]
    scored = Top1().score(responses, np.array([0, 1, 2, 1]))
    assert scored.values == {"top1": 0.75}
    assert scored.summary == "accuracy=75.000%, good=3, total=4\ntop1 = 0.7500 (3/4)"
    with pytest.raises(HarnessError, match="one class index per sample"):
        Top1().score({7: b"\0\0\0\0"}, np.array([0, 1]))


def test_qsl_cache_in_this_process(tmp_path: Path) -> None:
    """Arrays the preprocessor made itself are saved; JSON labels come back; a second load
    reads the memory-mapped cache without preprocessing; new parameters make a new entry."""
    import io

    from mlenv_harness.data.cache import load_dataset
    from mlenv_harness.report import Reporter

    calls: list[object] = []

    def preprocess(path: Path, params: Any, samples: int, allocate: Any) -> Dataset:
        calls.append(params)
        ids = allocate((samples, 3), "int32")
        ids[:] = np.arange(samples * 3).reshape(samples, 3)
        mask = np.ones((samples, 3), dtype=np.int64)  # not allocated: saved as it is
        return Dataset(features=(ids, mask), labels=[{"answers": ["x"]}] * samples)

    source = tmp_path / "data.json"
    source.write_text("{}")
    report = Reporter(stream=io.StringIO())
    kwargs = {"name": "qa", "path": source, "samples": 4, "digest": None, "report": report}
    first = load_dataset(preprocess, params={"a": 1}, cache_dir=tmp_path / "c", **kwargs)
    second = load_dataset(preprocess, params={"a": 1}, cache_dir=tmp_path / "c", **kwargs)
    assert calls == [{"a": 1}]
    for got in (first, second):
        assert isinstance(got.features[0], np.memmap) and got.features[0][3, 2] == 11
        assert got.features[1].dtype == np.int64 and got.labels[0] == {"answers": ["x"]}
    load_dataset(preprocess, params={"a": 2}, cache_dir=tmp_path / "c", **kwargs)
    assert len(calls) == 2 and len(list((tmp_path / "c").iterdir())) == 2
