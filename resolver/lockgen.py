"""From a solved recipe graph to a lock section: sources per package, ecosystem closures."""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from mlenv import lockfields as F
from mlenv import names
from mlenv.errors import ResolutionError
from mlenv.index import Located, RecipeIndex
from mlenv.lock import (
    ArtifactPin,
    CondaPin,
    Lock,
    LockedPackage,
    LockTarget,
    PypiPin,
    SystemPin,
)
from mlenv.manifest import Manifest
from mlenv.requirement import Requirement, parse_requirement
from mlenv.sources import (
    ArtifactSource,
    CondaSource,
    DetectSource,
    LocalSource,
    PypiSource,
    WheelFileSource,
)
from mlenv.target import Target

from .buildreqs import with_build_pins
from .candidates import Candidate
from .pypi import UvOptions, compile_pypi
from .pypiedges import pypi_edges
from .solve import Solution, solve

HARNESS_REQUIREMENT = "mlperf-loadgen"


@dataclass(frozen=True, kw_only=True)
class ResolveOptions:
    uv: UvOptions
    upgrade: bool = False
    upgrade_packages: frozenset[str] = frozenset()
    tools: Mapping[str, Sequence[str]] = field(default_factory=dict)
    project_dir: Path = Path(".")  # relative conda channels and artifacts are relative to it
    conda_cache: Path | None = None  # py-rattler's repodata cache


def root_requirements(manifest: Manifest) -> list[Requirement]:
    """The manifest's requirements, plus LoadGen when there is a benchmark to run."""
    roots = list(manifest.requires)
    if manifest.benchmark and not any(r.name == HARNESS_REQUIREMENT for r in roots):
        roots.append(parse_requirement(HARNESS_REQUIREMENT))
    return roots


def _is_url(text: str) -> bool:
    return "://" in text


def local_url(located: Located, url: str) -> str:
    """A file or folder beside a recipe as the lock names it: `builtin:…`, or a path relative
    to the manifest folder with its `..` folded (`../My Model.onnx` for a file beside the
    project)."""
    return F.local_url(located.resolve_relative(url))


def pin_name(url: str, package: str) -> str:
    """The name an artifact is placed under in the env: the url's last segment, with what a
    path component may not hold (spaces, say) made `_` (`My Model.onnx` -> `My_Model.onnx`)."""
    base = re.sub(r"[^A-Za-z0-9._+-]", "_", posixpath.basename(url)).lstrip(".-")[:128]
    return base if base and not names.component_problem(base) else package


def _local_pin(located: Located, package: str, source: LocalSource) -> ArtifactPin:
    """A `local:` folder: the one the user names by `env`, or the one at `path` beside the
    recipe (pinned by its tree hash)."""
    if source.path is None:
        env = source.env or ""
        return ArtifactPin(name=env, package=package, local_env=env, tree_sha256=source.tree_sha256)
    url = local_url(located, source.path.rstrip("/"))
    return ArtifactPin(
        name=pin_name(url, package),
        package=package,
        url=url,
        tree_sha256=source.tree_sha256,
    )


def _pins(
    previous: LockTarget | None, options: ResolveOptions
) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    if previous is None or options.upgrade:
        return {}
    return {
        name: (p.version, p.variants)
        for name, p in previous.packages.items()
        if name not in options.upgrade_packages
    }


def _check_benchmark(manifest: Manifest, solution: Solution) -> None:
    b = manifest.benchmark
    if b is None:
        return
    for field_name, name, kinds in (
        ("model", b.model, ("model",)),
        ("dataset", b.dataset, ("dataset",)),
        ("backend", b.backend, ("framework", "runtime")),
    ):
        c = solution.packages.get(name)
        kind = c.located.recipe.kind if c is not None and c.located is not None else None
        if kind not in kinds:
            raise ResolutionError(
                f"benchmark.{field_name} names {name!r}, which is "
                + ("not among the solved packages" if c is None else f"a {kind} recipe"),
                where=f"mlenv.yaml: benchmark.{field_name}",
                hint=f"name a {'/'.join(kinds)} recipe listed under `requires:`",
            )


def with_edges(pins: Sequence[PypiPin], edges: Mapping[str, tuple[str, ...]]) -> list[PypiPin]:
    """`pins` with the `requires:` of each (canonical names)."""
    return [dataclasses.replace(p, requires=edges.get(canonicalize_name(p.name), ())) for p in pins]


def not_from_conda(pins: Sequence[PypiPin], conda: Sequence[CondaPin]) -> list[PypiPin]:
    """The PyPI pins the conda layer does not already provide: a conda package is the PyPI
    project of the same (normalized) name, as on conda-forge; it is installed once, by conda.
    (py-rattler's records carry no PURLs here, so the name is the mapping.)"""
    provided = {canonicalize_name(p.name) for p in conda}
    return [p for p in pins if canonicalize_name(p.name) not in provided]


def lock_target(
    index: RecipeIndex,
    manifest: Manifest,
    target: Target,
    options: ResolveOptions,
    previous: LockTarget | None = None,
) -> LockTarget:
    facts = target.facts()
    tools = options.tools if target.is_host else {n: [v] for n, v in target.tools}
    solution = solve(
        index,
        root_requirements(manifest),
        facts,
        target_name=target.name,
        prefer=dict(manifest.prefer),
        pins=_pins(previous, options),
        tools=tools,
    )
    _check_benchmark(manifest, solution)
    packages: dict[str, LockedPackage] = {}
    pypi_reqs: list[str] = []
    wheel_files: list[tuple[Candidate, WheelFileSource]] = []
    conda_sources: list[CondaSource] = []
    artifacts: list[ArtifactPin] = []
    system: list[SystemPin] = []
    for name in sorted(solution.packages):
        c = solution.packages[name]
        if c.located is None:
            continue
        recipe = c.located.recipe
        packages[name] = LockedPackage(
            name=name,
            kind=recipe.kind,
            version=str(c.version),
            recipe=f"sha256:{recipe.sha256}",
            file=c.located.label,
            variants=c.variants,
            requires=solution.requires.get(name, ()),
        )
        values = {"version": str(c.version), **c.variant_map}
        for entry in recipe.install:
            if entry.when and not entry.when.holds(
                variants=c.variant_map, version=c.version, facts=facts
            ):
                continue
            source = entry.source.substituted(values)
            if isinstance(source, PypiSource):
                pypi_reqs.extend(source.requirements)
            elif isinstance(source, WheelFileSource):
                wheel_files.append((c, source))
            elif isinstance(source, ArtifactSource):
                url = source.url if _is_url(source.url) else local_url(c.located, source.url)
                artifacts.append(
                    ArtifactPin(
                        name=pin_name(source.url.split("?", 1)[0], name),
                        package=name,
                        url=url,
                        sha256=source.sha256,
                        md5=None if source.sha256 else source.md5,
                        size=source.size,
                        extract=source.extract,
                        strip=source.strip,
                        path=source.path,
                    )
                )
            elif isinstance(source, LocalSource):
                artifacts.append(_local_pin(c.located, name, source))
            elif isinstance(source, DetectSource):
                # the pin names its recipe; re-detection uses that recipe of the user's own
                # index, so no command line is written to the lock (older locks carry one)
                if not any(p.name == name for p in system):
                    system.append(SystemPin(name=name, version=str(c.version), package=name))
            elif isinstance(source, CondaSource):
                conda_sources.append(source)
    released = {canonicalize_name(n) for n in options.upgrade_packages}
    kept_pypi = () if previous is None or options.upgrade else previous.pypi
    prefer = [p for p in kept_pypi if canonicalize_name(p.name) not in released and not p.build_for]
    pypi = compile_pypi(pypi_reqs, target, options.uv, prefer=prefer)
    pypi = with_edges(pypi, pypi_edges(pypi_reqs, pypi, target, options.uv))
    conda: list[CondaPin] = []
    if conda_sources:
        from .conda import lock_conda  # py-rattler and asyncio: imported only for conda work

        kept_conda = () if previous is None or options.upgrade else previous.conda
        conda = lock_conda(
            conda_sources,
            target,
            cache_dir=options.conda_cache or options.project_dir / ".mlenv" / "cache" / "rattler",
            project_dir=options.project_dir,
            offline=options.uv.offline,
            prefer=[p for p in kept_conda if canonicalize_name(p.name) not in released],
        )
    pypi = with_build_pins(not_from_conda(pypi, conda), target, options.uv)
    for c, wf in wheel_files:
        pins = compile_pypi([wf.requirement], target, options.uv, no_deps=True)
        wheel = _only(pins, wf.requirement, c)
        artifacts.append(
            ArtifactPin(
                name=posixpath.basename(wf.path),
                package=c.name,
                url=wheel.url,
                sha256=wheel.sha256,
                size=wheel.size,
                member=wf.path,
                member_sha256=wf.sha256,
            )
        )
    _check_unique(artifacts, solution)
    return LockTarget(
        name=target.name,
        facts=facts,
        packages=packages,
        pypi=tuple(pypi),
        conda=tuple(conda),
        artifacts=tuple(artifacts),
        system=tuple(system),
    )


def _check_unique(artifacts: Sequence[ArtifactPin], solution: Solution) -> None:
    """Artifacts land in `artifacts/<package>/<name>`: two with one name would collide."""
    seen: set[tuple[str, str]] = set()
    for a in artifacts:
        if (a.package, a.name) in seen:
            located = solution.packages[a.package].located
            raise ResolutionError(
                f"{a.package} has two artifacts named {a.name!r}",
                where=located.label if located else a.package,
                why=f"both would be placed at artifacts/{a.package}/{a.name}",
                hint="give the files different names (or use one install entry per condition)",
            )
        seen.add((a.package, a.name))


def _only(pins: list[PypiPin], requirement: str, c: Candidate) -> PypiPin:
    if len(pins) != 1:
        raise ResolutionError(
            f"wheel-file requirement {requirement!r} of {c.name} did not pin exactly one wheel",
            where=c.located.label if c.located else c.name,
            hint="pin the wheel with ==",
        )
    return pins[0]


def recipes_digest(targets: Mapping[str, LockTarget]) -> str:
    """sha256 over every recipe file the lock consulted, by name and sha256."""
    lines = sorted(
        {f"{name} {p.recipe}" for t in targets.values() for name, p in t.packages.items()}
    )
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def build_lock(
    index: RecipeIndex,
    manifest: Manifest,
    targets: Sequence[Target],
    options: ResolveOptions,
    previous: Lock | None = None,
    keep: Mapping[str, LockTarget] | None = None,
) -> Lock:
    """Lock every target; `keep` carries sections of targets not re-resolved this time."""
    sections = dict(keep or {})
    for target in targets:
        prev = previous.targets.get(target.name) if previous else None
        sections[target.name] = lock_target(index, manifest, target, options, prev)
    return Lock(manifest=manifest.digest(), recipes=recipes_digest(sections), targets=sections)
