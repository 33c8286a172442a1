"""What a measurement is asked to be and what mlenv adds to it (CONTRACTS §11).

Asked (`Measure`, built by `mlenv run` from the request and the manifest):
- the profile: `quick` (default) lays short-run LoadGen settings (`QUICK_SETTINGS`) under the
  user's; `submission` lays none, so LoadGen's built-in mlperf.conf rules hold. Explicit settings
  (the manifest's `settings`, `--set`) win over both, key by key.
- calibration: the harness may choose `threads`, `max-batch` and `workers` unless the manifest's
  `benchmark:` names them, and LoadGen's expected QPS/latency for a scenario unless the settings
  name them (`EXPECTED_KEYS`).
- a subset (`samples`: the dataset's first N) and repeats (each performance measurement N
  times; calibration only in the first, the others `pin`ned to what it chose).

Added (DESIGN principle 5: measured by the mlenv process, outside the env): `energy` over the
harness's timed window (`window_ns`) from `mlenv.ops.energy`, `memory.peak_rss_bytes` of the
harness process, `machine` (`mlenv.machine.machine_facts`), `env.bytes` (the environment folder on
disk), `profile`; and for repeats, `repeats` with the medians at the top (`merge_repeats`).

Judged (`accuracy_target`): an accuracy run's metric against the model recipe's
`reference-accuracy`, MLPerf's rule: met when the measured value is at least `fraction` (0.99, or
the recipe's `accuracy-target`, e.g. 0.999) of the reference.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from mlenv.envs.gc import file_bytes
from mlenv.manifest import DEFAULT_PROFILE, KNOBS

from .energy import EnergySampler

# quick: every scenario at least 1 s; the fewest queries LoadGen's early stopping accepts with no
# query over latency (SingleStream's p90: 64; MultiStream's and Server's p99: 662), so that a
# calibrated run is short and still VALID. Offline keeps LoadGen's one query.
QUICK_SETTINGS: Mapping[str | None, Mapping[str, int]] = {
    None: {"min_duration": 1000},
    "SingleStream": {"min_query_count": 64},
    "MultiStream": {"min_query_count": 662},
    "Server": {"min_query_count": 662},
}
# the settings that fix what LoadGen expects of a scenario: calibration leaves it alone then
EXPECTED_KEYS: Mapping[str, tuple[str, ...]] = {
    "Offline": ("target_qps",),
    "Server": ("target_qps",),
    "SingleStream": ("target_latency",),
    "MultiStream": ("target_latency", "samples_per_query"),
}
# MLPerf's accuracy target: 99 % of the reference (a model recipe's `accuracy-target` says 99.9 %)
ACCURACY_FRACTION = 0.99
# RunConfig.backend's name of each knob
_BACKEND_KEY = {"threads": "threads", "max-batch": "max_batch", "workers": "workers"}
DETAIL_LOG = "mlperf_log_detail.txt"
_MLLOG = ":::MLLOG "
# folders of the environment that are not the environment: the harness's link, its cache
_NOT_ENV = frozenset({".harness", ".harness-cache"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Measure:
    """How `run_benchmark` measures: the profile, what the user fixed, a subset, repeats, and
    the facts of this run's machine and environment (gathered once per `mlenv run`)."""

    profile: str = DEFAULT_PROFILE
    samples: int | None = None
    repeat: int = 1
    fixed: frozenset[str] = frozenset()  # of KNOBS: the manifest names them
    machine: Mapping[str, Any] | None = None
    env_bytes: int | None = None

    def settings(self, scenario: str, explicit: Mapping[str, Any]) -> dict[str, Any]:
        """The profile's settings for `scenario` under the explicit ones."""
        if self.profile != "quick":
            return dict(explicit)
        return {**QUICK_SETTINGS[None], **QUICK_SETTINGS.get(scenario, {}), **explicit}

    def calibrate(self, scenario: str, settings: Mapping[str, Any]) -> dict[str, bool]:
        """RunConfig's `calibrate`: true for each knob the harness may choose."""
        out = {knob: knob not in self.fixed for knob in KNOBS}
        out["expected"] = not any(k in settings for k in EXPECTED_KEYS.get(scenario, ()))
        return out

    def apply(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A run config document (`benchrun.run_config`) made this measurement's."""
        out = dict(config)
        settings = self.settings(str(out["scenario"]), out.get("settings") or {})
        out["settings"] = settings
        if out.get("compliance") is None:
            out["calibrate"] = self.calibrate(str(out["scenario"]), settings)
        if self.samples is not None:
            out["samples"] = self.samples
        return out

    def extra(self) -> dict[str, Any]:
        """What every result.json of this measurement gains beside the measured figures."""
        return {
            "profile": self.profile,
            "machine": dict(self.machine) if self.machine is not None else None,
            "env": {"bytes": self.env_bytes},
        }


def pin(config: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with what an earlier run (`doc`) calibrated, fixed: its `threads`, `max-batch`,
    `workers` and the settings it chose (`benchmark_config.calibrated_keys`); nothing left for
    the harness to calibrate. A `doc` without `benchmark_config` changes nothing."""
    chosen = doc.get("benchmark_config")
    if not isinstance(chosen, Mapping):
        return dict(config)
    backend = dict(config["backend"])
    for knob, key in _BACKEND_KEY.items():
        value = chosen.get(knob)
        if isinstance(value, int) and not isinstance(value, bool):
            backend[key] = value
    settings = dict(config.get("settings") or {})
    recorded = doc.get("settings")
    if not isinstance(recorded, Mapping):
        recorded = {}
    for key in chosen.get("calibrated_keys") or ():
        if key in recorded:
            settings[key] = recorded[key]
    out = {**config, "backend": backend, "settings": settings}
    if "calibrate" in out:
        out["calibrate"] = dict.fromkeys(out["calibrate"], False)
    return out


def median_index(docs: Sequence[Mapping[str, Any]]) -> int:
    """The repeat whose samples/s is the median (the lower one of an even count)."""
    rates = [(_rate(d), i) for i, d in enumerate(docs)]
    ordered = sorted(rates, key=lambda pair: (pair[0] is None, pair[0] or 0.0, pair[1]))
    return ordered[(len(ordered) - 1) // 2][1]


def merge_repeats(docs: Sequence[Mapping[str, Any]], middle: int) -> dict[str, Any]:
    """The repeats of one performance measurement as one result.json: the `middle` repeat's
    document (its logs are the ones kept) with the medians at the top, every repeat listed,
    `valid` only when each was, the first repeat's `benchmark_config` (calibration ran there),
    the largest peak RSS."""
    out = dict(docs[middle])
    repeats = [
        {
            "samples_per_second": d.get("samples_per_second"),
            "latency_ns": d.get("latency_ns"),
            "valid": d.get("valid"),
        }
        for d in docs
    ]
    rates = [r for r in (_rate(d) for d in docs) if r is not None]
    latency: dict[str, int | None] = {}
    for key in out.get("latency_ns") or {}:
        values = [v for d in docs if _is_number(v := (d.get("latency_ns") or {}).get(key))]
        latency[key] = round(statistics.median(values)) if values else None
    out.update(
        samples_per_second=statistics.median(rates) if rates else None,
        latency_ns=latency,
        valid=all(d.get("valid") is True for d in docs),
        repeats=repeats,
    )
    if "benchmark_config" in docs[0]:
        out["benchmark_config"] = docs[0]["benchmark_config"]
    peaks = [p for d in docs if _is_number(p := (d.get("memory") or {}).get("peak_rss_bytes"))]
    if "memory" in out:
        out["memory"] = {"peak_rss_bytes": max(peaks) if peaks else None}
    return out


def measured(
    doc: Mapping[str, Any],
    *,
    sampler: EnergySampler,
    peak_rss: int | None,
    folder: Path,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The harness's result document with what mlenv measured around it."""
    out = dict(doc)
    out["energy"] = _energy(doc, sampler, folder)
    out["memory"] = {"peak_rss_bytes": peak_rss}
    out.update(extra)
    return out


def accuracy_target(
    accuracy: Any, reference: Sequence[tuple[str, float]], fraction: float = ACCURACY_FRACTION
) -> dict[str, Any] | None:
    """result.json's `accuracy_target`: the first metric of the run's `accuracy` (the harness's
    order: its metric's headline value first) that the model recipe has a reference for, with
    the target `fraction` x reference and whether the measured value meets it (>=). A reference
    for a metric the run did not measure is ignored; None when none is left. The comparison is
    in the harness's unit (a fraction, e.g. top1 0.7646): a reference above 1 against a measured
    value of at most 1 was written in percent (76.46) and is divided by 100."""
    if not isinstance(accuracy, Mapping):
        return None
    references = dict(reference)
    for metric, value in accuracy.items():
        ref = references.get(metric)
        if ref is None or not _is_number(value) or not _is_number(ref):
            continue
        ref = float(ref) / 100 if ref > 1 and value <= 1 else float(ref)
        target = round(ref * fraction, 12)
        return {
            "metric": metric,
            "reference": ref,
            "fraction": fraction,
            "target": target,
            "measured": value,
            "met": value >= target,
        }
    return None


def with_accuracy_target(
    doc: Mapping[str, Any], reference: Sequence[tuple[str, float]], fraction: float | None
) -> dict[str, Any]:
    """An accuracy run's result document with its `accuracy_target` (null when the model has no
    reference for what it measured); other runs unchanged."""
    out = dict(doc)
    if out.get("mode") == "accuracy" and out.get("compliance") is None:
        out["accuracy_target"] = accuracy_target(
            out.get("accuracy"), reference, ACCURACY_FRACTION if fraction is None else fraction
        )
    return out


def _energy(doc: Mapping[str, Any], sampler: EnergySampler, folder: Path) -> dict[str, Any] | None:
    window = doc.get("window_ns")
    if not isinstance(window, Mapping):
        return None
    start, end = window.get("start"), window.get("end")
    if not (isinstance(start, int) and isinstance(end, int)):
        return None
    energy = sampler.energy_between(start, end)
    if energy is None:
        return None
    return energy.to_dict(processed_samples(doc, folder, (end - start) / 1e9))


def processed_samples(doc: Mapping[str, Any], folder: Path, seconds: float) -> int | None:
    """The samples a run processed: LoadGen's query count times its samples per query
    (performance); the samples used (accuracy); else samples/s over the window."""
    values = detail_values(folder, ("result_query_count", "effective_samples_per_query"))
    queries, per_query = values.get("result_query_count"), values.get("effective_samples_per_query")
    if doc.get("mode") == "performance" and _is_number(queries) and _is_number(per_query):
        return int(queries * per_query)
    if doc.get("mode") == "accuracy" and _is_number(doc.get("samples")):
        return int(doc["samples"])
    rate = doc.get("samples_per_second")
    return round(rate * seconds) if _is_number(rate) and seconds > 0 else None


def detail_values(folder: Path, keys: Sequence[str]) -> dict[str, Any]:
    """The last value LoadGen's detail log records under each of `keys`."""
    wanted, found = set(keys), {}
    try:
        lines = (folder / DETAIL_LOG).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        if not line.startswith(_MLLOG):
            continue
        try:
            record = json.loads(line[len(_MLLOG) :])
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("key") in wanted:
            found[record["key"]] = record.get("value")
    return found


def tree_bytes(root: Path, skip: frozenset[str] = _NOT_ENV) -> int | None:
    """The environment's size on disk: its files (links not followed, a hard-linked file once,
    the harness's own folders left out); None when `root` cannot be read."""
    return file_bytes(root, skip)


def _rate(doc: Mapping[str, Any]) -> float | None:
    value = doc.get("samples_per_second")
    return float(value) if _is_number(value) else None


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
