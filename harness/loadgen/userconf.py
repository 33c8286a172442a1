"""LoadGen user.conf keys: which exist, where they apply, how they are written.

The table follows ``TestSettings::FromConfig`` of LoadGen 6.0.17 for a user.conf
(``conf_type`` 2): keys it reads from user.conf, and for each the scenarios whose tests it
affects. Integer keys are read with ``strtoull`` (a fraction or a sign would be mangled
silently), so they are checked here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import HarnessError

SettingValue = int | float

ALL = ("SingleStream", "MultiStream", "Server", "Offline")


@dataclass(frozen=True)
class Key:
    kind: str  # "int" | "float" | "bool"
    scenarios: tuple[str, ...] = ALL
    positive: bool = False  # 0 would make LoadGen wait for ever (or divide by it)


KEYS: Mapping[str, Key] = MappingProxyType(
    {
        "min_duration": Key("int"),
        "max_duration": Key("int"),
        "min_query_count": Key("int"),
        "max_query_count": Key("int"),
        "performance_sample_count_override": Key("int"),
        "accuracy_sample_count_override": Key("int"),
        "performance_issue_unique": Key("bool"),
        "performance_issue_same": Key("bool"),
        "performance_issue_same_index": Key("int"),
        "sample_concatenate_permutation": Key("bool"),
        "print_timestamps": Key("bool"),
        "accuracy_log_rng_seed": Key("int"),
        "accuracy_log_sampling_target": Key("int"),
        "use_token_latencies": Key("bool"),
        "infer_token_latencies": Key("bool"),
        "token_latency_scaling_factor": Key("int"),
        "target_latency_percentile": Key(
            "float", ("SingleStream", "MultiStream", "Server"), positive=True
        ),
        "target_latency": Key("float", ("SingleStream", "MultiStream", "Server"), positive=True),
        "samples_per_query": Key("int", ("MultiStream",), positive=True),
        "target_qps": Key("float", ("Server", "Offline"), positive=True),
        "coalesce_queries": Key("bool", ("Server",)),
        "max_async_queries": Key("int", ("Server",)),
        "ttft_latency": Key("int", ("Server",)),
        "tpot_latency": Key("int", ("Server",)),
    }
)

# Keys LoadGen 6.0.17 reads only from its built-in mlperf.conf: a user.conf value is ignored.
BUILT_IN_ONLY = frozenset(
    {
        "qsl_rng_seed",
        "sample_index_rng_seed",
        "schedule_rng_seed",
        "accuracy_log_probability",
        "test05",
        "test05_qsl_rng_seed",
        "test05_sample_index_rng_seed",
        "test05_schedule_rng_seed",
    }
)


@dataclass(frozen=True, kw_only=True)
class UserConf:
    """The settings that apply to one scenario, and the ones that were given but do not."""

    values: Mapping[str, SettingValue]
    not_applicable: tuple[str, ...]

    def render(self, benchmark: str, scenario: str) -> str:
        return "".join(
            f"{benchmark}.{scenario}.{key} = {_text(value)}\n" for key, value in self.values.items()
        )


def user_conf(
    settings: Mapping[str, object],
    scenario: str,
    *,
    samples: int | None = None,
    performance_sample_count: int | None = None,
) -> UserConf:
    """Check every setting; keep those that apply to ``scenario``, in a stable order.

    With the dataset's sizes, settings that LoadGen would take but cannot honor (sample
    counts beyond the dataset) are problems too.
    """
    problems: list[str] = []
    values: dict[str, SettingValue] = {}
    skipped: list[str] = []
    for name in sorted(settings):
        value = _check(name, settings[name], problems)
        if value is None:
            continue
        if scenario in KEYS[name].scenarios:
            values[name] = value
        else:
            skipped.append(name)
    if not problems and samples is not None:
        problems.extend(_against_data(values, samples, performance_sample_count or samples))
    if not problems:
        low, high = values.get("min_duration", 0), values.get("max_duration", 0)
        if high and low > high:
            problems.append(f"max_duration ({high} ms) is below min_duration ({low} ms)")
    if problems:
        raise HarnessError(
            "settings: " + "; ".join(problems),
            hint="settings are LoadGen user.conf keys such as min_duration (ms), target_qps, "
            "target_latency (ms), min_query_count",
        )
    return UserConf(values=values, not_applicable=tuple(skipped))


def _check(name: str, value: object, problems: list[str]) -> SettingValue | None:
    if name == "mode":
        problems.append("mode: the test mode is chosen by the harness (mlenv run --mode)")
        return None
    if name in BUILT_IN_ONLY:
        problems.append(f"{name}: LoadGen reads it only from its built-in mlperf.conf")
        return None
    key = KEYS.get(name)
    if key is None:
        problems.append(f"{name}: not a LoadGen user.conf key")
        return None
    number = _number(value)
    if number is None or number < 0 or not math.isfinite(number):
        problems.append(f"{name}: expected a number >= 0, found {value!r}")
        return None
    if key.positive and number == 0:
        problems.append(f"{name}: expected a number > 0, found {value!r}")
        return None
    if key.kind == "float":
        return number
    if number != int(number):
        problems.append(f"{name}: expected an integer, found {value!r}")
        return None
    if key.kind == "bool" and number not in (0, 1):
        problems.append(f"{name}: expected 0 or 1 (or true/false), found {value!r}")
        return None
    return int(number)


def _against_data(values: Mapping[str, SettingValue], samples: int, performance: int) -> list[str]:
    problems = []
    for key in ("performance_sample_count_override", "accuracy_sample_count_override"):
        if values.get(key, 0) > samples:
            problems.append(f"{key}: {values[key]} is more than the dataset's {samples} samples")
    loaded = values.get("performance_sample_count_override") or performance
    same = values.get("performance_issue_same_index", 0)
    if same >= loaded:
        problems.append(
            f"performance_issue_same_index: {same} is not below the performance sample "
            f"count ({loaded})"
        )
    return problems


def _number(value: object) -> SettingValue | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                continue
    return None


def _text(value: SettingValue) -> str:
    if isinstance(value, float) and value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
