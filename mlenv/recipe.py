"""Recipes (CONTRACTS §2): one YAML file per component, as frozen dataclasses."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from .conditions import ALWAYS, CONDITION, SUPPORTS, Condition, parse_condition
from .errors import FormatError, RequirementError
from .keyspec import Key, Shape, any_of, array, integer, mapping, number, string, strings
from .requirement import NAME_RE, Requirement, parse_requirement
from .sources import INSTALL_ENTRY, InstallEntry, parse_install_entry
from .yamlio import Problems, Section, join, unquoted_number

KINDS = ("compiler", "runtime", "framework", "model", "dataset", "tool")
MODEL_FORMATS = ("onnx", "torchscript", "tflite", "openvino")
_NAME = string(pattern=NAME_RE)
_TEXT = string()
DEPENDENCY = Shape(
    title="dependency",
    description="a requirement that applies only when its condition holds",
    keys=(
        Key(
            "require",
            _TEXT,
            "a requirement string: NAME[VARIANT=VALUE,...] SPECIFIER",
            required=True,
        ),
        Key("when", CONDITION, "the condition under which this dependency applies"),
    ),
)
_DEPENDENCIES = array(any_of(_TEXT, DEPENDENCY))
VERSION = Shape(
    title="version",
    description="a version with fields of its own",
    keys=(
        Key("version", _TEXT, "a PEP 440 version (quoted, so YAML keeps it text)", required=True),
        Key("requires", _DEPENDENCIES, "requirements of this version only"),
    ),
)
VARIANT = Shape(
    title="variant",
    description="a closed set of values with a default",
    keys=(
        Key("values", array(_TEXT, min_items=1), "the values, in order", required=True),
        Key("default", _TEXT, "the value used when a requirement names none", required=True),
    ),
)
TENSOR = Shape(
    title="tensor",
    description="one input or output tensor of a model",
    keys=(
        Key("name", _TEXT, "the tensor's name in the model", required=True),
        Key("shape", array(integer()), "its dimensions (-1 for a dynamic size)", required=True),
        Key("dtype", _TEXT, "its element type, e.g. float32", required=True),
    ),
)
_PREPROCESS = {
    "type": "object",
    "properties": {"name": string()},
    "required": ["name"],
}
_FRACTION = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
# keys that only model (dataset) recipes may carry
MODEL_ONLY = ("format", "inputs", "outputs", "reference-accuracy", "accuracy-target")
DATASET_ONLY = ("samples", "performance-sample-count", "preprocess", "metric")
RECIPE = Shape(
    title="recipe",
    description="an mlenv recipe: one component (framework, model, dataset, …), its versions "
    "and where its files come from",
    keys=(
        Key("name", _NAME, "the component's name, unique within one index", required=True),
        Key("kind", string(enum=KINDS), "what the component is", required=True),
        Key("summary", _TEXT, "one line saying what it is"),
        Key("provides", strings(pattern=NAME_RE), "virtual names that requirements may name"),
        Key("variants", mapping(VARIANT), "closed value sets, by variant name"),
        Key(
            "versions",
            array(any_of(_TEXT, VERSION)),
            "its versions: a bare version string, or a mapping with per-version fields",
        ),
        Key("requires", _DEPENDENCIES, "requirement strings, or {require, when}"),
        Key("supports", SUPPORTS, "the targets it supports"),
        Key("install", array(INSTALL_ENTRY), "where its files or packages come from"),
        Key("task", _TEXT, "model and dataset recipes: the task (image-classification, …)"),
        Key("format", string(enum=MODEL_FORMATS), "model recipes: the model file's format"),
        Key("inputs", array(TENSOR), "model recipes: the input tensors"),
        Key("outputs", array(TENSOR), "model recipes: the output tensors"),
        Key(
            "reference-accuracy",
            mapping(number()),
            "model recipes: the reference accuracy, by metric name",
        ),
        Key(
            "accuracy-target",
            _FRACTION,
            "model recipes: the fraction of the reference an accuracy run must reach "
            "(MLPerf's 0.99 when absent; 0.999 for the high-accuracy variants)",
        ),
        Key("samples", integer(), "dataset recipes: the number of samples"),
        Key(
            "performance-sample-count",
            integer(),
            "dataset recipes: LoadGen's performance sample count",
        ),
        Key(
            "preprocess",
            _PREPROCESS,
            "dataset recipes: a named harness preprocessor and its parameters",
        ),
        Key("metric", _TEXT, "dataset recipes: a named metric of the harness (top1, map, f1, …)"),
    ),
    rules=tuple(
        {
            "if": {"not": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}},
            "then": {"not": {"anyOf": [{"required": [key]} for key in keys]}},
        }
        for kind, keys in (("model", MODEL_ONLY), ("dataset", DATASET_ONLY))
    ),
)
RECIPE_KEYS = RECIPE.names


@dataclass(frozen=True, kw_only=True)
class Variant:
    name: str
    values: tuple[str, ...]
    default: str


@dataclass(frozen=True, kw_only=True)
class Dependency:
    requirement: Requirement
    text: str
    when: Condition = ALWAYS


@dataclass(frozen=True, kw_only=True)
class RecipeVersion:
    """One version; its `requires:` are kept as the file gives them (`declared`) and parsed on
    first access of `requires` (a solve reads the requirements of only the versions it tries).
    A checked load (`Recipe.from_dict` without `lazy`) parses them all at once, reporting every
    problem with its file and field, and hands them over already parsed."""

    version: Version
    text: str
    declared: tuple[Any, ...] = field(default=(), hash=False, repr=False)
    # (file label, position in `versions:`, variant names): where a lazy parse's error points
    context: tuple[str, int, Mapping[str, tuple[str, ...]]] = field(
        default=("", 0, {}), compare=False, hash=False, repr=False
    )

    @functools.cached_property
    def requires(self) -> tuple[Dependency, ...]:
        label, i, variant_names = self.context
        problems = Problems(label)
        at = f"{join('versions', i)}.requires"
        requires = _dependencies(list(self.declared), at, problems, variant_names)
        if problems:  # the same problem a checked load of the file reports
            raise FormatError(
                "the recipe index has 1 problem",
                problems=problems.problems()[:1],
                hint="fix the files named above; `mlenv recipes lint` checks them",
            )
        return requires


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True, kw_only=True)
class Recipe:
    name: str
    kind: str
    summary: str = ""
    provides: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = ()
    versions: tuple[RecipeVersion, ...] = ()  # newest first
    requires: tuple[Dependency, ...] = ()
    supports: Condition = ALWAYS
    install: tuple[InstallEntry, ...] = ()
    # harness data: model and dataset recipes
    task: str | None = None
    format: str | None = None
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    reference_accuracy: tuple[tuple[str, float], ...] = ()
    accuracy_target: float | None = None  # None: MLPerf's 0.99
    samples: int | None = None
    performance_sample_count: int | None = None
    preprocess: tuple[tuple[str, Any], ...] = ()
    metric: str | None = None
    # where it came from (never written to the lock as a path)
    file: str = ""
    sha256: str = ""

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    def default_variants(self) -> dict[str, str]:
        return {v.name: v.default for v in self.variants}

    def version(self, version: Version) -> RecipeVersion | None:
        return next((v for v in self.versions if v.version == version), None)

    @property
    def preprocess_map(self) -> dict[str, Any]:
        return dict(self.preprocess)

    @classmethod
    def from_dict(
        cls, data: Any, problems: Problems, *, file: str = "", sha256: str = "", lazy: bool = False
    ) -> Recipe:
        """The recipe of one file's data; every problem goes to `problems`. With `lazy` (data
        known to be valid: the index's cache of checked files), each version's requirements
        are parsed when first used."""
        s = Section(data, "", problems, RECIPE_KEYS)
        name = s.str("name", required=True) or "?"
        if s.has("name") and not NAME_RE.fullmatch(name):
            problems.add("name", f"invalid recipe name {name!r} (use [a-z0-9][a-z0-9._-]*)")
        kind = s.str("kind", required=True) or "tool"
        if kind not in KINDS:
            problems.add("kind", f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        variants = _variants(s, problems)
        names = {v.name: v.values for v in variants}
        versions = _versions(s, problems, names, lazy=lazy)
        install = tuple(
            e
            for i, raw in enumerate(s.list("install"))
            if (e := parse_install_entry(raw, join("install", i), problems, names)) is not None
        )
        if not versions and not any(type(e.source).__name__ == "DetectSource" for e in install):
            problems.add("versions", "a recipe needs at least one version (or a detect: source)")
        supports = (
            parse_condition(
                s.raw("supports"), "supports", problems, variant_names={}, allow_version=False
            )
            if s.has("supports")
            else Condition()
        )
        model_ok = kind == "model"
        dataset_ok = kind == "dataset"
        for key in MODEL_ONLY:
            if s.has(key) and not model_ok:
                problems.add(key, f"{key!r} belongs to model recipes")
        for key in DATASET_ONLY:
            if s.has(key) and not dataset_ok:
                problems.add(key, f"{key!r} belongs to dataset recipes")
        fmt = s.str("format")
        if fmt is not None and fmt not in MODEL_FORMATS:
            problems.add(
                "format", f"unknown model format {fmt!r} (one of {', '.join(MODEL_FORMATS)})"
            )
        preprocess = s.mapping("preprocess")
        if s.has("preprocess") and "name" not in preprocess:
            problems.add(
                "preprocess", "a preprocess mapping needs a 'name' (a harness preprocessor)"
            )
        ref = s.mapping("reference-accuracy")
        for key, value in ref.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.add(join("reference-accuracy", str(key)), "expected a number")
        fraction = _fraction(s, "accuracy-target", problems)
        return cls(
            name=name,
            kind=kind,
            summary=s.str("summary") or "",
            provides=tuple(_names(s, "provides", problems)),
            variants=variants,
            versions=versions,
            requires=_dependencies(s.list("requires"), "requires", problems, names),
            supports=supports,
            install=install,
            task=s.str("task"),
            format=fmt,
            inputs=_tensors(s, "inputs", problems),
            outputs=_tensors(s, "outputs", problems),
            reference_accuracy=tuple(
                sorted((str(k), float(v)) for k, v in ref.items() if isinstance(v, int | float))
            ),
            accuracy_target=fraction,
            samples=s.int("samples"),
            performance_sample_count=s.int("performance-sample-count"),
            preprocess=tuple(sorted(preprocess.items())),
            metric=s.str("metric"),
            file=file,
            sha256=sha256,
        )


def _fraction(s: Section, key: str, problems: Problems) -> float | None:
    """A number in (0, 1]: `accuracy-target`."""
    value = s.raw(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        problems.add(key, f"expected a fraction in (0, 1], e.g. 0.99 or 0.999, got {value!r}")
        return None
    return float(value)


def _names(s: Section, key: str, problems: Problems) -> list[str]:
    out = []
    for i, n in enumerate(s.str_list(key)):
        if not NAME_RE.fullmatch(n):
            problems.add(join(key, i), f"invalid name {n!r}")
        out.append(n)
    return out


def _variants(s: Section, problems: Problems) -> tuple[Variant, ...]:
    out = []
    for name, body in sorted(s.mapping("variants").items()):
        at = join("variants", str(name))
        v = Section(body, at, problems, VARIANT.names)
        values = tuple(v.str_list("values", required=True))
        default = v.str("default", required=True)
        if default is not None and values and default not in values:
            problems.add(v.at("default"), f"default {default!r} is not one of {list(values)}")
        if values:
            out.append(Variant(name=str(name), values=values, default=default or values[0]))
    return tuple(out)


def _versions(
    s: Section,
    problems: Problems,
    variant_names: Mapping[str, tuple[str, ...]],
    *,
    lazy: bool = False,
) -> tuple[RecipeVersion, ...]:
    if lazy:
        return _trusted_versions(s.list("versions"), problems.label, variant_names)
    out: dict[Version, RecipeVersion] = {}
    for i, raw in enumerate(s.list("versions")):
        at = join("versions", i)
        declared: list[Any] = []
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("version"), str)
            and isinstance(raw.get("requires", []), list)
            and raw.keys() <= _VERSION_KEYS
        ):
            text = raw["version"]  # the common, well-formed shape, without the checked accessors
            declared = raw.get("requires") or []
        elif isinstance(raw, Mapping):
            v = Section(raw, at, problems, VERSION.names)
            text = v.str("version", required=True)
            declared = v.list("requires")
        elif isinstance(raw, float):
            problems.add(at, unquoted_number(raw))
            continue
        else:
            text = str(raw) if raw is not None else None
        if text is None:
            continue
        try:
            version = _version(text)
        except InvalidVersion:
            problems.add(at, f"invalid version {text!r} (PEP 440, e.g. 1.20.1)")
            continue
        if version in out:
            problems.add(at, f"version {text} is listed twice")
        rv = RecipeVersion(
            version=version,
            text=text,
            declared=tuple(declared),
            context=(problems.label, i, variant_names),
        )
        # checked now, every problem reported; the first access is then free
        rv.__dict__["requires"] = _dependencies(declared, f"{at}.requires", problems, variant_names)
        out[version] = rv
    return _newest_first(list(out.values()))


def _trusted_versions(
    raws: list[Any], label: str, variant_names: Mapping[str, tuple[str, ...]]
) -> tuple[RecipeVersion, ...]:
    """The versions of a file checked before (the index's cache holds only valid files): no
    checks, and each version's requirements left for its first use."""
    out = []
    for i, raw in enumerate(raws):
        if isinstance(raw, dict):
            text, declared = str(raw["version"]), tuple(raw.get("requires") or ())
        else:
            text, declared = str(raw), ()
        out.append(
            RecipeVersion(
                version=_version(text),
                text=text,
                declared=declared,
                context=(label, i, variant_names),
            )
        )
    return _newest_first(out)


def _newest_first(versions: list[RecipeVersion]) -> tuple[RecipeVersion, ...]:
    """Sorted newest first; most files list them so already, which one pass confirms (a sort
    compares far more pairs, and comparing two versions runs Python code)."""
    if all(a.version > b.version for a, b in itertools.pairwise(versions)):
        return tuple(versions)
    return tuple(sorted(versions, key=lambda rv: rv.version, reverse=True))


_VERSION_KEYS = frozenset(VERSION.names)


@functools.lru_cache(maxsize=65536)
def _version(text: str) -> Version:
    return Version(text)


def _dependencies(
    raw: list[Any], path: str, problems: Problems, variant_names: Mapping[str, tuple[str, ...]]
) -> tuple[Dependency, ...]:
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):  # the common case, kept cheap: recipes repeat these a lot
            try:
                out.append(_plain_dependency(item))
            except RequirementError as e:
                problems.add(join(path, i), f"{e.message}\n{e.why}")
            continue
        at = join(path, i)
        if not isinstance(item, Mapping):
            problems.add(at, "expected a requirement string or {require: ..., when: ...}")
            continue
        d = Section(item, at, problems, DEPENDENCY.names)
        text = d.str("require", required=True)
        when = ALWAYS
        if d.has("when"):
            when = parse_condition(
                item["when"], d.at("when"), problems, variant_names=variant_names
            )
        if text is None:
            continue
        try:
            req = parse_requirement(text)
        except RequirementError as e:
            problems.add(at, f"{e.message}\n{e.why}")
            continue
        out.append(Dependency(requirement=req, text=text, when=when))
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def _plain_dependency(text: str) -> Dependency:
    """An unconditional dependency; frozen, so equal strings share one object."""
    return Dependency(requirement=parse_requirement(text), text=text)


def _tensors(s: Section, key: str, problems: Problems) -> tuple[TensorSpec, ...]:
    out = []
    for i, raw in enumerate(s.list(key)):
        t = Section(raw, join(key, i), problems, TENSOR.names)
        shape = t.list("shape", required=True)
        if any(isinstance(d, bool) or not isinstance(d, int) for d in shape):
            problems.add(t.at("shape"), "a shape is a list of integers (-1 for a dynamic size)")
            shape = []
        out.append(
            TensorSpec(
                name=t.str("name", required=True) or "",
                shape=tuple(shape),
                dtype=t.str("dtype", required=True) or "float32",
            )
        )
    return tuple(out)
