"""The sweep file `sweep.yaml` (CONTRACTS §12): its keys declared once (`SWEEP`, `SEARCH`),
the frozen `Sweep` model, and `load_sweep`, which also checks the axes against the base
manifest (`pin.NAME` and `variant.NAME.KEY` must name a requirement of it).

Axis names are dotted manifest paths (`benchmark.threads`): the error locations of this file
cross keys that hold dots (`axes.benchmark.threads`), which `mlenv.yamlio.locate_line` finds.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from mlenv.errors import FormatError
from mlenv.keyspec import Key, Shape, array, integer, mapping, string, strings
from mlenv.manifest import BENCHMARK, MANIFEST, MODES, SCENARIOS, Manifest
from mlenv.names import COMPONENT_RE, component_problem
from mlenv.requirement import NAME_RE, parse_requirement
from mlenv.yamlio import (
    Problems,
    Section,
    join,
    locate_line,
    read_yaml,
    type_name,
    unquoted_number,
)

PROFILES = ("quick", "submission")
SEARCH_KINDS = ("grid", "random", "optuna")
DIRECTIONS = ("max", "min")
DEFAULT_BASE = "mlenv.yaml"
_SCALAR = {"type": ["string", "number", "integer", "boolean"]}
# manifest keys an axis may not set by dotted path (they have their own axis kinds)
_NOT_AXES = {"requires": "pin.NAME or variant.NAME.KEY", "targets": "target", "name": None}

SEARCH = Shape(
    title="search",
    description="how the points are chosen from the product of the axes",
    keys=(
        Key(
            "kind",
            {**string(enum=SEARCH_KINDS), "default": "grid"},
            "grid (every point), random, or optuna",
        ),
        Key("points", integer(minimum=1), "random/optuna: how many points to measure"),
        Key(
            "seed",
            {**integer(), "default": 0},
            "random/optuna: the seed of the sample or sampler",
        ),
    ),
)
SWEEP = Shape(
    title="sweep",
    description="an mlenv sweep file, `sweep.yaml`: the configurations `mlenv explore` measures",
    keys=(
        Key("name", string(pattern=COMPONENT_RE), "the sweep's name", required=True),
        Key(
            "base",
            {**string(), "default": DEFAULT_BASE},
            "the manifest every point derives from, relative to the sweep file",
        ),
        Key(
            "axes",
            mapping(array(_SCALAR, min_items=1)),
            "the values of each axis, by axis: a dotted manifest path (benchmark.threads), "
            "pin.NAME, variant.NAME.KEY, settings.[SCENARIO.]KEY or target",
            required=True,
        ),
        Key("exclude", array(mapping(_SCALAR)), "partial points (axis: value) to leave out"),
        Key("scenarios", strings(enum=SCENARIOS), "the scenarios to measure (default: the base's)"),
        Key("modes", strings(enum=MODES), "the modes to measure (default: the base's)"),
        Key("profile", string(enum=PROFILES), "the measurement profile"),
        Key("repeat", integer(minimum=1), "how many times each performance run is measured"),
        Key(
            "objectives",
            mapping(string(enum=DIRECTIONS)),
            "the Pareto front's objectives: a result field (latency_ns.p90) -> max or min",
        ),
        Key("search", SEARCH, "how the points are chosen (default: grid)"),
    ),
)
DEFAULT_OBJECTIVES = (("samples_per_second", "max"), ("latency_ns.p90", "min"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Search:
    kind: str = "grid"
    points: int | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.points is not None:
            out["points"] = self.points
        if self.kind in ("random", "optuna"):
            out["seed"] = self.seed
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Axis:
    key: str  # as written: benchmark.threads, pin.onnxruntime, variant.x.device, settings.…
    values: tuple[Any, ...]

    @property
    def kind(self) -> str:
        """pin, variant, settings, target or path."""
        head = self.key.split(".", 1)[0]
        return head if head in ("pin", "variant", "settings", "target") else "path"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    name: str
    base: str = DEFAULT_BASE  # relative to the sweep file
    axes: tuple[Axis, ...] = ()
    exclude: tuple[tuple[tuple[str, Any], ...], ...] = ()
    scenarios: tuple[str, ...] = ()  # empty: the base manifest's
    modes: tuple[str, ...] = ()
    profile: str | None = None
    repeat: int | None = None
    objectives: tuple[tuple[str, str], ...] = ()  # empty: the defaults (and the metric)
    search: Search = field(default_factory=Search)

    def axis(self, key: str) -> Axis:
        return next(a for a in self.axes if a.key == key)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "base": self.base,
            "axes": {a.key: list(a.values) for a in self.axes},
            "search": self.search.to_dict(),
        }
        if self.exclude:
            out["exclude"] = [dict(e) for e in self.exclude]
        for key, value in (
            ("scenarios", list(self.scenarios)),
            ("modes", list(self.modes)),
            ("profile", self.profile),
            ("repeat", self.repeat),
            ("objectives", dict(self.objectives)),
        ):
            if value:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, problems: Problems) -> Sweep:
        s = Section(data, "", problems, SWEEP.names)
        name = s.str("name", required=True) or "?"
        if s.has("name") and (problem := component_problem(name)):
            problems.add("name", f"invalid sweep name: {problem}")
        axes = _axes(s, problems)
        return cls(
            name=name,
            base=s.str("base") or DEFAULT_BASE,
            axes=axes,
            exclude=_exclude(s, problems, axes),
            scenarios=_names(s, "scenarios", SCENARIOS),
            modes=_names(s, "modes", MODES),
            profile=_choice(s, "profile", PROFILES),
            repeat=_at_least(s, "repeat", 1),
            objectives=_objectives(s, problems),
            search=_search(s, problems) if s.has("search") else Search(),
        )


def _same(a: Any, b: Any) -> bool:
    """YAML values as the file means them: 1, 1.0 and true are three different values."""
    return type(a) is type(b) and a == b


def _axes(s: Section, problems: Problems) -> tuple[Axis, ...]:
    out = []
    for key, values in s.mapping("axes", required=True).items():
        at = join("axes", str(key))
        if not isinstance(key, str):
            problems.add(at, f"an axis name is text, got {type_name(key)}")
            continue
        if (problem := axis_problem(key)) is not None:
            problems.add(at, problem)
            continue
        if not isinstance(values, list) or not values:
            problems.add(at, f"expected a non-empty list of values, got {type_name(values)}")
            continue
        kept: list[Any] = []
        for i, value in enumerate(values):
            if (problem := _value_problem(key, value)) is not None:
                problems.add(join(at, i), problem)
            elif any(_same(value, k) for k in kept):
                problems.add(join(at, i), f"the value {value!r} is listed twice")
            else:
                kept.append(value)
        out.append(Axis(key=key, values=tuple(kept)))
    return tuple(out)


def axis_problem(key: str) -> str | None:
    """Why `key` is no axis (None: it is one)."""
    parts = key.split(".")
    head = parts[0]
    if key == "target":
        return None
    if head == "pin":
        ok = len(parts) == 2 and bool(NAME_RE.fullmatch(parts[1]))
        return None if ok else "expected pin.NAME, NAME a recipe the base manifest requires"
    if head == "variant":
        ok = len(parts) == 3 and bool(NAME_RE.fullmatch(parts[1])) and bool(parts[2])
        return None if ok else "expected variant.NAME.KEY (e.g. variant.onnxruntime.device)"
    if head == "settings":
        ok = 2 <= len(parts) <= 3 and all(parts[1:]) and (len(parts) == 2 or parts[1] in SCENARIOS)
        return None if ok else "expected settings.KEY or settings.SCENARIO.KEY (a LoadGen key)"
    if not all(parts):
        return "an empty part in the dotted path"
    if head in _NOT_AXES:
        instead = _NOT_AXES[head]
        return f"{head} cannot be an axis" + (f"; use {instead}" if instead else "")
    if head not in MANIFEST.names:
        known = ", ".join(n for n in MANIFEST.names if n not in _NOT_AXES)
        return (
            f"unknown axis {key!r}: a dotted manifest path ({known}), "
            "pin.NAME, variant.NAME.KEY, settings.[SCENARIO.]KEY or target"
        )
    if head == "benchmark" and (len(parts) < 2 or parts[1] not in BENCHMARK.names):
        return f"expected benchmark.KEY, KEY one of {', '.join(BENCHMARK.names)}"
    return None


def _value_problem(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, list | dict):
        return f"expected a single value (text, a number or a boolean), got {type_name(value)}"
    textual = key == "target" or key.startswith(("pin.", "variant."))
    if textual and isinstance(value, float):
        return unquoted_number(value)
    if textual and (isinstance(value, bool) or not isinstance(value, str | int)):
        return f"expected text, got {type_name(value)}"
    if key.startswith("pin."):
        try:
            Version(str(value))
        except InvalidVersion:
            return f"invalid version {value!r} (PEP 440, e.g. '1.23.2')"
    if key == "target" and value != "host" and (problem := component_problem(str(value))):
        return f"invalid target name: {problem}"
    return None


def _exclude(
    s: Section, problems: Problems, axes: tuple[Axis, ...]
) -> tuple[tuple[tuple[str, Any], ...], ...]:
    known = {a.key: a for a in axes}
    out = []
    for i, item in enumerate(s.list("exclude")):
        at = join("exclude", i)
        if not isinstance(item, dict) or not item:
            problems.add(at, f"expected a mapping of axis: value, got {type_name(item)}")
            continue
        for key, value in item.items():
            if key not in known:
                names = ", ".join(known) or "none"
                problems.add(join(at, str(key)), f"{key!r} is not an axis (axes: {names})")
            elif not any(_same(value, v) for v in known[key].values):
                problems.add(
                    join(at, str(key)),
                    f"{value!r} is not a value of the axis {key} "
                    f"({', '.join(map(repr, known[key].values))}); it would exclude nothing",
                )
        out.append(tuple(item.items()))
    return tuple(out)


def _names(s: Section, key: str, known: tuple[str, ...]) -> tuple[str, ...]:
    names = s.str_list(key)
    for i, name in enumerate(names):
        if name not in known:
            s.problems.add(join(key, i), f"unknown {key[:-1]} {name!r} (one of {', '.join(known)})")
    return tuple(dict.fromkeys(n for n in names if n in known))


def _choice(s: Section, key: str, known: tuple[str, ...]) -> str | None:
    value = s.str(key)
    if value is not None and value not in known:
        s.problems.add(key, f"unknown {key} {value!r} (one of {', '.join(known)})")
        return None
    return value


def _at_least(s: Section, key: str, least: int) -> int | None:
    value = s.int(key)
    if value is not None and value < least:
        s.problems.add(s.at(key), f"expected an integer >= {least}, got {value}")
        return None
    return value


def _objectives(s: Section, problems: Problems) -> tuple[tuple[str, str], ...]:
    out = []
    for key, direction in s.mapping("objectives").items():
        at = join("objectives", str(key))
        if not isinstance(key, str) or not all(key.split(".")):
            problems.add(at, "expected a result field, e.g. samples_per_second or latency_ns.p90")
        elif direction not in DIRECTIONS:
            problems.add(at, f"expected max or min, got {direction!r}")
        else:
            out.append((key, str(direction)))
    return tuple(out)


def _search(s: Section, problems: Problems) -> Search:
    b = Section(s.raw("search"), "search", problems, SEARCH.names)
    kind = b.str("kind", required=True) or "grid"
    points, seed = _at_least(b, "points", 1), b.int("seed")
    if kind not in SEARCH_KINDS:
        problems.add("search.kind", f"unknown search {kind!r} (one of {', '.join(SEARCH_KINDS)})")
        return Search()
    if kind == "grid":
        for key in ("points", "seed"):
            if b.has(key):
                problems.add(f"search.{key}", "a grid search measures every point; remove it")
    elif b.ok and not b.has("points"):
        problems.add("search.points", f"a {kind} search needs `points: N`")
    if kind == "optuna" and importlib.util.find_spec("optuna") is None:
        problems.add(
            "search.kind",
            "the optuna search needs Optuna, which is not installed: `pip install optuna` "
            "(or use kind: random)",
        )
    return Search(kind=kind, points=points, seed=seed or 0)


# -- the loader ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedSweep:
    """A sweep file with its base manifest (read once; every point derives from its data)."""

    sweep: Sweep
    path: Path  # the sweep file, absolute
    base_path: Path
    base: Manifest
    base_data: dict[str, Any] = field(hash=False)
    text: str = field(repr=False)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def root(self) -> Path:
        """`<sweep dir>/.mlenv/sweeps/<name>/`: its points and their shared environments."""
        return self.folder / ".mlenv" / "sweeps" / self.sweep.name

    def problems(self) -> Problems:
        return Problems(str(self.path), self.text)


def load_sweep(path: Path) -> LoadedSweep:
    """Read and check a sweep file and its base manifest; every problem located."""
    path = path.expanduser().absolute()
    data, text = read_yaml(path)
    problems = Problems(str(path), text)
    sweep = Sweep.from_dict(data, problems)
    problems.raise_if_any(
        "sweep file", hint="see the sweep file format in README.md (CONTRACTS §12)"
    )
    base_path = (path.parent / sweep.base).absolute()
    if not base_path.is_file():
        raise FormatError(
            f"the base manifest {sweep.base} does not exist",
            where=f"{path}:{locate_line(text, 'base') or 1}: base",
            why=f"looked for {base_path} (relative to the sweep file)",
            hint="name the project's mlenv.yaml in `base:` (default: mlenv.yaml beside the sweep)",
        )
    from mlenv.manifest import load_manifest

    base = load_manifest(base_path)
    base_data, _ = read_yaml(base_path)
    _check_against_base(sweep, base, problems)
    problems.raise_if_any("sweep file", hint="the axes must fit the base manifest " + sweep.base)
    return LoadedSweep(
        sweep=sweep, path=path, base_path=base_path, base=base, base_data=base_data, text=text
    )


def _check_against_base(sweep: Sweep, base: Manifest, problems: Problems) -> None:
    required = {r.name for r in base.requires}
    for axis in sweep.axes:
        if axis.kind not in ("pin", "variant"):
            continue
        name = axis.key.split(".")[1]
        if name not in required:
            problems.add(
                join("axes", axis.key),
                f"{name} is not required by the base manifest (it requires "
                f"{', '.join(sorted(required))}); add it to `requires` there first",
            )
        elif axis.kind == "variant":
            for i, value in enumerate(axis.values):
                try:
                    parse_requirement(f"{name}[{axis.key.split('.')[2]}={value}]")
                except FormatError:
                    problems.add(join(join("axes", axis.key), i), "not a variant KEY=VALUE")


__all__ = [
    "DEFAULT_OBJECTIVES",
    "SEARCH",
    "SWEEP",
    "Axis",
    "LoadedSweep",
    "Search",
    "Sweep",
    "axis_problem",
    "load_sweep",
]
