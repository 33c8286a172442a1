"""One LoadGen test in this process: settings from mlperf.conf and user.conf, then the run."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import mlperf_loadgen as lg

from ..errors import HarnessError
from .sut import SampleStore

# A name that never exists: LoadGen runs an audit (compliance) test when the file it is given
# exists, and its default, "audit.config", is looked up in the working directory.
NO_AUDIT = ".mlenv-no-audit.config"


class Dispatch(Protocol):
    def issue(self, ids: list[int], indices: list[int]) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class TestPlan:
    benchmark: str  # the model name LoadGen looks up in mlperf.conf and user.conf
    scenario: str
    mode: str
    user_conf: Path
    output_dir: Path
    samples: int
    performance_sample_count: int
    audit_config: Path | None = None  # a compliance test's settings, applied over user.conf


# given LoadGen's minimum duration (s), the context that shows progress while the test runs
Watch = Callable[[float | None], AbstractContextManager[object]]


@dataclass(frozen=True)
class Window:
    """The span of the LoadGen call on time.monotonic_ns(): CLOCK_MONOTONIC is system-wide on
    Linux, so the process that started this one can read its energy meters around it."""

    start_ns: int
    end_ns: int

    def to_dict(self) -> dict[str, int]:
        return {"start": self.start_ns, "end": self.end_ns}


def run_test(plan: TestPlan, store: SampleStore, dispatch: Dispatch, watch: Watch) -> Window:
    settings = lg.TestSettings()
    # LoadGen 6.0.17 keeps a process-wide count of conf_type=1 calls and skips the built-in
    # mlperf.conf from the second one on; load it (type 0) and the user.conf (type 2) apart.
    for path, conf_type in (("", 0), (str(plan.user_conf), 2)):
        status = settings.FromConfig(path, plan.benchmark, plan.scenario, conf_type)
        if status != 0:
            raise HarnessError(
                f"LoadGen rejected {path or 'its built-in mlperf.conf'} (status {status})",
                hint="see the settings in the run config",
            )
    settings.scenario = getattr(lg.TestScenario, plan.scenario)
    settings.mode = (
        lg.TestMode.AccuracyOnly if plan.mode == "accuracy" else lg.TestMode.PerformanceOnly
    )

    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(plan.output_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    if plan.audit_config is not None:
        audit = plan.audit_config
    else:
        audit = plan.output_dir / NO_AUDIT
        if audit.exists():
            raise HarnessError(f"{audit} exists; remove it (LoadGen would run an audit test)")

    minimum = settings.min_duration_ms / 1000 if plan.mode == "performance" else None
    sut = lg.ConstructFastSUT(dispatch.issue, dispatch.flush)
    qsl = lg.ConstructQSL(plan.samples, plan.performance_sample_count, store.load, store.unload)
    try:
        with watch(minimum):
            start_ns = time.monotonic_ns()
            lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, str(audit))
            end_ns = time.monotonic_ns()
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroyFastSUT(sut)
    return Window(start_ns=start_ns, end_ns=end_ns)
