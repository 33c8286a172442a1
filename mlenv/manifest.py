"""The manifest `mlenv.yaml` (CONTRACTS §1)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import RequirementError
from .keyspec import Key, Shape, array, integer, mapping, string, strings
from .names import COMPONENT_RE, component_problem
from .requirement import NAME_RE, Requirement, parse_requirement
from .uvenv import PypiOptions
from .yamlio import Problems, Section, join, read_yaml

SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
MODES = ("performance", "accuracy")
PROFILES = ("quick", "submission")  # CONTRACTS §11
DEFAULT_PROFILE = "quick"
KNOBS = ("threads", "max-batch", "workers")  # calibrated unless the manifest names them
DEFAULT_MAX_DELAY_US = 100
_COMPONENT = string(pattern=COMPONENT_RE)
_SETTING = {"type": ["number", "string"]}  # a LoadGen user.conf value
_SETTINGS = {
    "type": "object",
    "properties": {
        sc: {**mapping(_SETTING), "description": f"user.conf keys for {sc} runs only"}
        for sc in SCENARIOS
    },
    "additionalProperties": _SETTING,
}
BENCHMARK = Shape(
    title="benchmark",
    description="what `mlenv run` measures",
    keys=(
        Key("model", _COMPONENT, "a model recipe in `requires`", required=True),
        Key("dataset", _COMPONENT, "a dataset recipe in `requires`", required=True),
        Key("backend", _COMPONENT, "a framework recipe in `requires`", required=True),
        Key(
            "scenarios",
            {**strings(enum=SCENARIOS), "default": ["Offline", "SingleStream"]},
            "the LoadGen scenarios to run",
        ),
        Key(
            "modes",
            {**strings(enum=MODES), "default": list(MODES)},
            "the LoadGen modes to run",
        ),
        Key(
            "settings",
            _SETTINGS,
            "LoadGen user.conf keys: at the top level for all scenarios, "
            "under a scenario's name for that scenario",
        ),
        Key(
            "threads",
            {**integer(minimum=0), "default": 0},
            "intra-op threads of the backend (0: calibrated, or the backend decides); "
            "naming it turns calibration of it off",
        ),
        Key(
            "max-batch",
            {**integer(minimum=1), "default": 1024},
            "the largest batch given to the backend in one call (calibrated unless named)",
        ),
        Key(
            "workers",
            {**integer(minimum=0), "default": 0},
            "Offline/Server worker threads (0: automatic, at most cores // threads; "
            "calibrated unless named)",
        ),
        Key(
            "max-delay-us",
            {**integer(minimum=0), "default": DEFAULT_MAX_DELAY_US},
            f"Server: how long a partial batch waits, in µs (default {DEFAULT_MAX_DELAY_US})",
        ),
        Key(
            "profile",
            {**string(enum=PROFILES), "default": DEFAULT_PROFILE},
            "quick (default): short runs; submission: LoadGen's mlperf.conf rules untouched",
        ),
        Key("samples", integer(minimum=1), "run on the dataset's first N samples only"),
    ),
)
PYPI_OPTIONS = Shape(
    title="pypi-options",
    description="where uv looks for PyPI packages when locking (uv's own configuration files "
    "and UV_* variables are ignored); part of the lock's inputs",
    keys=(
        Key(
            "index-url",
            string(),
            "the index instead of PyPI (uv --index-url); default: PyPI, or MLENV_PYPI_INDEX_URL",
        ),
        Key("extra-index-urls", strings(), "more indexes (uv --extra-index-url), in order"),
        Key(
            "exclude-newer",
            string(),
            "ignore files uploaded after this RFC 3339 date or timestamp (uv --exclude-newer), "
            "e.g. 2025-06-01 or 2025-06-01T00:00:00Z",
        ),
    ),
)
MANIFEST = Shape(
    title="manifest",
    description="an mlenv project manifest, `mlenv.yaml`: what a benchmark needs and how it is run",
    keys=(
        Key("name", string(), "the project's name", required=True),
        Key(
            "recipes",
            strings(),
            "extra recipe folders (relative to the manifest), searched before the built-in index; "
            "each holds recipes as <kind>s/<name>.yaml (models/digits-mlp.yaml)",
        ),
        Key(
            "targets",
            {**strings(pattern=COMPONENT_RE), "default": ["host"]},
            "the lock's targets: names of target files (`mlenv targets`), or 'host'",
        ),
        Key(
            "prefer",
            mapping(string(pattern=NAME_RE)),
            "which recipe provides a virtual name, by virtual name",
        ),
        Key(
            "requires",
            array(string(), min_items=1),
            "requirement strings: NAME[VARIANT=VALUE,...] SPECIFIER",
            required=True,
        ),
        Key("benchmark", BENCHMARK, "what `mlenv run` measures"),
        Key(
            "mirrors",
            mapping(string()),
            "artifact URL prefixes rewritten to mirrors: prefix -> replacement (hashes stay)",
        ),
        Key("pypi-options", PYPI_OPTIONS, "where uv looks for PyPI packages when locking"),
    ),
)
MANIFEST_KEYS = MANIFEST.names
BENCHMARK_KEYS = BENCHMARK.names


def scalar_setting(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    model: str
    dataset: str
    backend: str
    scenarios: tuple[str, ...] = ("Offline", "SingleStream")
    modes: tuple[str, ...] = ("performance", "accuracy")
    settings: tuple[tuple[str, Any], ...] = ()  # all scenarios
    scenario_settings: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    threads: int = 0
    max_batch: int = 1024
    workers: int = 0  # Offline/Server worker threads; 0: cores // threads
    max_delay_us: int = DEFAULT_MAX_DELAY_US  # Server: a partial batch waits this long
    profile: str | None = None  # None: DEFAULT_PROFILE (or what `mlenv run --profile` says)
    samples: int | None = None  # a subset: the dataset's first N samples
    fixed: frozenset[str] = frozenset()  # the KNOBS the manifest names (no calibration)

    def settings_for(self, scenario: str) -> dict[str, Any]:
        out = dict(self.settings)
        out.update(dict(dict(self.scenario_settings).get(scenario, ())))
        return out

    def to_dict(self) -> dict[str, Any]:
        settings: dict[str, Any] = dict(self.settings)
        for scenario, items in self.scenario_settings:
            settings[scenario] = dict(items)
        out: dict[str, Any] = {
            "model": self.model,
            "dataset": self.dataset,
            "backend": self.backend,
            "scenarios": list(self.scenarios),
            "modes": list(self.modes),
            "settings": settings,
            "threads": self.threads,
            "max-batch": self.max_batch,
        }
        # written only when set, so that manifests without them keep their digest
        if self.workers:
            out["workers"] = self.workers
        if self.max_delay_us != DEFAULT_MAX_DELAY_US:
            out["max-delay-us"] = self.max_delay_us
        if self.profile is not None:
            out["profile"] = self.profile
        if self.samples is not None:
            out["samples"] = self.samples
        return out


@dataclass(frozen=True, kw_only=True)
class Manifest:
    name: str
    requires: tuple[Requirement, ...]
    requires_text: tuple[str, ...]
    recipes: tuple[str, ...] = ()
    targets: tuple[str, ...] = ("host",)
    prefer: tuple[tuple[str, str], ...] = ()
    benchmark: Benchmark | None = None
    mirrors: tuple[tuple[str, str], ...] = ()
    pypi_options: PypiOptions = field(default_factory=PypiOptions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "recipes": list(self.recipes),
            "targets": list(self.targets),
            "prefer": dict(self.prefer),
            "requires": [str(r) for r in self.requires],
        }
        if self.benchmark:
            out["benchmark"] = self.benchmark.to_dict()
        if self.mirrors:
            out["mirrors"] = dict(self.mirrors)
        if pypi := self.pypi_options.to_dict():  # only when set: older locks keep their digest
            out["pypi-options"] = pypi
        return out

    def digest(self) -> str:
        """sha256 of the normalized manifest (what the lock's inputs record)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: Any, problems: Problems) -> Manifest:
        s = Section(data, "", problems, MANIFEST.names)
        name = s.str("name", required=True) or "?"
        requires: list[Requirement] = []
        texts = s.str_list("requires", required=True)
        if s.ok and s.has("requires") and not texts:
            problems.add("requires", "list at least one requirement")
        for i, text in enumerate(texts):
            try:
                requires.append(parse_requirement(text))
            except RequirementError as e:
                problems.add(join("requires", i), f"{e.message}\n{e.why}")
        prefer = s.mapping("prefer")
        for key, value in prefer.items():
            if not isinstance(value, str) or not NAME_RE.fullmatch(value):
                problems.add(join("prefer", str(key)), "expected a recipe name")
        mirrors = s.mapping("mirrors")
        benchmark = _benchmark(s, problems) if s.has("benchmark") else None
        targets = s.str_list("targets") or ["host"]
        for i, target in enumerate(targets):
            if target != "host" and (problem := component_problem(target)):
                problems.add(join("targets", i), f"invalid target name: {problem}")
        return cls(
            name=name,
            requires=tuple(requires),
            requires_text=tuple(texts),
            recipes=tuple(s.str_list("recipes")),
            targets=tuple(dict.fromkeys(targets)),
            prefer=tuple(sorted((str(k), str(v)) for k, v in prefer.items())),
            benchmark=benchmark,
            mirrors=tuple(sorted((str(k), str(v)) for k, v in mirrors.items())),
            pypi_options=_pypi_options(s, problems),
        )


def _pypi_options(s: Section, problems: Problems) -> PypiOptions:
    if not s.has("pypi-options"):
        return PypiOptions()
    p = Section(s.raw("pypi-options"), "pypi-options", problems, PYPI_OPTIONS.names)
    index = p.str("index-url") or None
    extra = p.str_list("extra-index-urls")
    urls = [(p.at("index-url"), index)] if index else []
    urls += [(join(p.at("extra-index-urls"), i), url) for i, url in enumerate(extra)]
    for where, url in urls:
        if not str(url).startswith(("http://", "https://", "file://")):
            problems.add(where, f"expected an http(s):// or file:// URL, got {url!r}")
    return PypiOptions(
        index_url=index,
        extra_index_urls=tuple(extra),
        exclude_newer=_exclude_newer(p, problems),
    )


def _exclude_newer(p: Section, problems: Problems) -> str | None:
    value = p.raw("exclude-newer")
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()  # YAML reads an unquoted 2025-06-01 as a date
    text = value.isoformat() if isinstance(value, dt.datetime) else str(value).strip()
    try:
        if len(text) == 10:
            dt.date.fromisoformat(text)
        elif dt.datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is None:
            raise ValueError("no time zone")
    except ValueError:
        problems.add(
            p.at("exclude-newer"),
            f"expected an RFC 3339 date or timestamp with a time zone, got {text!r}",
        )
        return None
    return text


def _benchmark(s: Section, problems: Problems) -> Benchmark:
    b = Section(s.raw("benchmark"), "benchmark", problems, BENCHMARK.names)
    scenarios = b.str_list("scenarios") or ["Offline", "SingleStream"]
    for i, sc in enumerate(scenarios):
        if sc not in SCENARIOS:
            problems.add(
                join(b.at("scenarios"), i),
                f"unknown scenario {sc!r} (one of {', '.join(SCENARIOS)})",
            )
    modes = b.str_list("modes") or ["performance", "accuracy"]
    for i, mode in enumerate(modes):
        if mode not in MODES:
            problems.add(
                join(b.at("modes"), i), f"unknown mode {mode!r} (one of {', '.join(MODES)})"
            )
    common: dict[str, Any] = {}
    per: dict[str, tuple[tuple[str, Any], ...]] = {}
    for key, value in b.mapping("settings").items():
        at = join(b.at("settings"), str(key))
        if key in SCENARIOS:
            if not isinstance(value, dict):
                problems.add(at, "expected a mapping of user.conf keys")
                continue
            for k, v in value.items():
                if not scalar_setting(v):
                    problems.add(join(at, str(k)), "expected a number or a string")
            per[key] = tuple(sorted((str(k), v) for k, v in value.items() if scalar_setting(v)))
        elif scalar_setting(value):
            common[str(key)] = value
        else:
            problems.add(at, "expected a number or a string (or a scenario name with a mapping)")
    profile = b.str("profile")
    if profile is not None and profile not in PROFILES:
        problems.add(b.at("profile"), f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
        profile = None
    knobs = (("threads", 0), ("max-batch", 1), ("workers", 0), ("max-delay-us", 0), ("samples", 1))
    for key, least in knobs:
        value = b.raw(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < least:
            problems.add(b.at(key), f"expected an integer >= {least}, got {value}")
    for key in ("model", "dataset", "backend"):  # package names; `model` names result folders
        value = b.raw(key)
        if isinstance(value, str) and (problem := component_problem(value)):
            problems.add(b.at(key), problem)
    return Benchmark(
        model=b.str("model", required=True) or "",
        dataset=b.str("dataset", required=True) or "",
        backend=b.str("backend", required=True) or "",
        scenarios=tuple(dict.fromkeys(scenarios)),
        modes=tuple(dict.fromkeys(modes)),
        settings=tuple(sorted(common.items())),
        scenario_settings=tuple(sorted(per.items())),
        threads=b.int("threads", default=0) or 0,
        max_batch=b.int("max-batch", default=1024) or 1024,
        workers=b.int("workers", default=0) or 0,
        max_delay_us=_max_delay(b),
        profile=profile,
        samples=b.int("samples"),
        fixed=frozenset(key for key in KNOBS if b.has(key)),
    )


def _max_delay(b: Section) -> int:
    value = b.int("max-delay-us", default=DEFAULT_MAX_DELAY_US)
    return DEFAULT_MAX_DELAY_US if value is None else value


def load_manifest(path: Path) -> Manifest:
    data, text = read_yaml(path)
    problems = Problems(str(path), text)
    manifest = Manifest.from_dict(data, problems)
    problems.raise_if_any("manifest", hint="see the manifest format in README.md (CONTRACTS §1)")
    return manifest
