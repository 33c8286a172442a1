"""Running the harness for a benchmark: shared by `mlenv run` and `mlenv reproduce`.

One harness process per (scenario, mode), then per compliance test (`harnessproc` starts and
supervises it), measured as `mlenv run` asks (`measure.Measure`: profile, calibration, subset,
repeats) and with what mlenv measures around it (energy, peak memory, the machine, the env's
size). Each run writes into a temporary sibling of its result folder, renamed into place only
once the harness succeeded and its result.json is whole (`staging`): an interrupted or failed
run leaves the previous result whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlenv.envs.materialize import Environment
from mlenv.errors import LockError, RunError
from mlenv.harness.config.model import (
    BackendSpec,
    ComplianceSpec,
    DataSpec,
    ModelSpec,
    RunConfig,
    TensorSpec,
)
from mlenv.index import Located
from mlenv.lock import LockTarget
from mlenv.machine import machine_facts
from mlenv.manifest import Benchmark

from . import harnessproc
from . import measure as measure_mod
from . import staging as staging_mod
from .energy import EnergySampler
from .measure import Measure
from .project import Project

COMPLIANCE_TESTS = ("TEST01", "TEST04")
MODES_ORDER = ("performance", "accuracy")
CACHE = ".harness-cache"  # in the env folder: preprocessed samples, memory-mapped


def locked_recipe(project: Project, section: LockTarget, name: str) -> Located:
    located = project.index.get(name)
    package = section.packages.get(name)
    if located is None or package is None:
        raise LockError(
            f"{name} is not in the lock's target {section.name}", hint="run `mlenv resolve`"
        )
    if package.recipe != f"sha256:{located.recipe.sha256}":
        raise LockError(
            f"the recipe of {name} changed since the lock was written ({located.label})",
            hint="run `mlenv resolve` (without --frozen) to update the lock",
        )
    return located


def artifact_file(env: Environment, package: str) -> Path:
    files = env.artifact(package)
    if not files:
        raise RunError(
            f"{package} has no artifact in the environment", hint="check its recipe's install:"
        )
    return files[0]


def dataset_digest(section: LockTarget, package: str) -> str | None:
    """The lock's hashes of a dataset's artifacts: the QSL cache key (no re-hashing at run)."""
    hashes = []
    for pin in sorted(section.artifacts, key=lambda a: a.name):
        if pin.package != package:
            continue
        if pin.member_sha256:
            hashes.append(f"sha256:{pin.member_sha256}")
        elif pin.tree_sha256:
            hashes.append(f"tree:{pin.tree_sha256}")
        elif pin.sha256:
            hashes.append(f"sha256:{pin.sha256}")
        elif pin.md5:
            hashes.append(f"md5:{pin.md5}")
        else:
            return None  # local data without a hash: the harness hashes what it finds
    return ",".join(hashes) or None


def run_config(
    project: Project,
    env: Environment,
    section: LockTarget,
    bench: Benchmark,
    scenario: str,
    mode: str,
    settings: dict[str, Any],
    out: Path,
    *,
    compliance: str | None = None,
    reference_dir: Path | None = None,
) -> dict[str, Any]:
    """The run config document of one harness process (its schema: `mlenv.harness.config`)."""
    config = RunConfig(
        benchmark=bench.model,
        dataset=bench.dataset,
        scenario=scenario,
        mode=mode,
        output_dir=out,
        model=_model_spec(locked_recipe(project, section, bench.model), env),
        data=_data_spec(locked_recipe(project, section, bench.dataset), env, section),
        backend=BackendSpec(
            name=bench.backend,
            version=section.packages[bench.backend].version,
            threads=bench.threads,
            max_batch=bench.max_batch,
            workers=bench.workers,
            max_delay_us=bench.max_delay_us,
        ),
        settings=settings,
        lock=section.digest(),
        target_name=section.name,
        target_facts=section.facts,
        cache_dir=env.path / CACHE,
        compliance=(
            ComplianceSpec(test=compliance, reference_dir=reference_dir)
            if compliance is not None and reference_dir is not None
            else None
        ),
    )
    return config.to_dict()


def _model_spec(located: Located, env: Environment) -> ModelSpec:
    model = located.recipe
    return ModelSpec(
        path=artifact_file(env, model.name),
        format=_needed(located, "format", model.format),
        inputs=tuple(_tensor(t) for t in model.inputs),
        outputs=tuple(_tensor(t) for t in model.outputs),
    )


def _data_spec(located: Located, env: Environment, section: LockTarget) -> DataSpec:
    data = located.recipe
    preprocess = data.preprocess_map
    samples = _needed(located, "samples", data.samples)
    return DataSpec(
        path=artifact_file(env, data.name),
        samples=samples,
        performance_sample_count=data.performance_sample_count or samples,
        preprocess=_needed(located, "preprocess", preprocess.get("name")),
        preprocess_params={k: v for k, v in preprocess.items() if k != "name"},
        metric=_needed(located, "metric", data.metric),
        digest=dataset_digest(section, data.name),
    )


def _needed(located: Located, key: str, value: Any) -> Any:
    """A recipe field the harness cannot run without."""
    if value is None or value == "":
        raise RunError(
            f"the {located.recipe.kind} recipe {located.recipe.name} has no `{key}:`, "
            "which the harness needs to run it",
            where=located.label,
            hint=f"add `{key}:` to that recipe (see `mlenv recipes show {located.recipe.name}`)",
        )
    return value


def _tensor(spec: Any) -> TensorSpec:
    return TensorSpec(name=spec.name, shape=tuple(spec.shape), dtype=spec.dtype)


def run_harness(
    env: Environment,
    config: dict[str, Any],
    project: Project,
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One harness process; its folder replaces `output_dir` only once it succeeded, holding
    the harness's result.json with what mlenv measured around it (`measure.measured`; `extra`:
    the facts gathered once per run, else gathered here)."""
    final = Path(config["output_dir"])
    staging = staging_mod.prepare(final)
    with _staged(staging, final, config, project):
        doc = _run_in(env, config, staging, final, project, extra)
    return _publish(staging, final, doc)


def run_repeated(
    env: Environment,
    config: dict[str, Any],
    project: Project,
    times: int,
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A performance measurement `times` times, one harness process each, each into its own
    folder inside the one staging folder; calibration runs in the first, the others are pinned
    to its choices. The median repeat's logs are published as `output_dir`, with the medians and
    every repeat in its result.json (`measure.merge_repeats`)."""
    final = Path(config["output_dir"])
    staging = staging_mod.prepare(final)
    docs: list[dict[str, Any]] = []
    with _staged(staging, final, config, project):
        for i in range(times):
            project.reporter.info(f"{config['scenario']} performance: repeat {i + 1} of {times}")
            here = config if not docs else measure_mod.pin(config, docs[0])
            docs.append(_run_in(env, here, staging / f"repeat_{i + 1}", final, project, extra))
        middle = measure_mod.median_index(docs)
        _promote(staging / f"repeat_{middle + 1}", staging)
    return _publish(staging, final, measure_mod.merge_repeats(docs, middle))


@contextlib.contextmanager
def _staged(
    staging: Path, final: Path, config: Mapping[str, Any], project: Project
) -> Iterator[None]:
    """Discard `staging` on an interrupt (or a harness that could not start); a harness that
    failed (RunError) leaves it for its logs."""
    try:
        yield
    except RunError:
        raise
    except BaseException as e:
        staging_mod.discard(staging)
        if isinstance(e, KeyboardInterrupt):
            project.reporter.warn(
                f"{config['scenario']} {_what(config)} was interrupted; {_previous(final)}"
            )
        raise


def _run_in(
    env: Environment,
    config: Mapping[str, Any],
    out: Path,
    final: Path,
    project: Project,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One harness process writing into `out`; its result document, measured."""
    sampler = EnergySampler(harnessproc.meters(project))
    try:
        returncode, peak_rss = harnessproc.start(
            env, harnessproc.harness_path(env), {**config, "output_dir": str(out)}, project, sampler
        )
    finally:
        harnessproc.close_meters(sampler)
    result_file = out / "result.json"
    if returncode != 0 or not result_file.exists():
        status = (
            f"killed by signal {signal.Signals(-returncode).name}"
            if returncode < 0 and -returncode in signal.valid_signals()
            else f"exit {returncode}"
        )
        raise RunError(
            f"the harness failed for {config['scenario']} {_what(config)} ({status})",
            where=str(out),
            why=_previous(final),
            hint="see the harness message above; LoadGen's logs of this run are in that folder "
            "(removed by the next run)",
        )
    doc = json.loads(result_file.read_text(encoding="utf-8"))
    if extra is None:
        extra = facts(env, project)
    doc = measure_mod.measured(doc, sampler=sampler, peak_rss=peak_rss, folder=out, extra=extra)
    model = project.index.get(str(config["benchmark"]))  # checked against the lock: run_config
    if model is None:
        return doc
    recipe = model.recipe
    return measure_mod.with_accuracy_target(doc, recipe.reference_accuracy, recipe.accuracy_target)


def facts(env: Environment, project: Project) -> dict[str, Any]:
    """This machine and the environment's size on disk (result.json's `machine`, `env`)."""
    return {
        "machine": machine_facts(project.environ),
        "env": {"bytes": measure_mod.tree_bytes(env.path)},
    }


def _publish(staging: Path, final: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """The whole result.json into the staging folder, then the folder into place."""
    (staging / "result.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    staging_mod.publish(staging, final)
    return doc


def _promote(repeat: Path, staging: Path) -> None:
    """The median repeat's files up into the staging folder; every repeat's folder removed."""
    for entry in repeat.iterdir():
        os.replace(entry, staging / entry.name)
    for folder in staging.glob("repeat_*"):
        shutil.rmtree(folder, ignore_errors=True)


def _what(config: Mapping[str, Any]) -> str:
    return str((config.get("compliance") or {}).get("test") or config["mode"])


def _previous(final: Path) -> str:
    return (
        f"the previous result in {final} is unchanged"
        if final.exists()
        else f"nothing was written to {final}"
    )


def result_dir(root: Path, section: LockTarget, bench: Benchmark, scenario: str, mode: str) -> Path:
    """MLPerf's submission layout: results/<system>/<benchmark>/<scenario>/<mode>[/run_1]."""
    base = root / section.name / bench.model / scenario
    return base / "performance" / "run_1" if mode == "performance" else base / "accuracy"


def run_benchmark(
    project: Project,
    section: LockTarget,
    env: Environment,
    bench: Benchmark,
    *,
    scenarios: Sequence[str],
    modes: Sequence[str],
    overrides: Mapping[str | None, Mapping[str, Any]],
    results_root: Path,
    compliance: Sequence[str] = (),
    measure: Measure | None = None,
) -> list[dict[str, Any]]:
    """Every scenario x mode, one harness process each; returns the result.json documents.

    With ``compliance`` tests (TEST01, TEST04), each scenario also runs the modes they compare
    with (performance; accuracy for TEST01), then each test into ``<scenario>/<TEST>/``, with
    the performance run's calibrated choices. ``measure``: the profile, calibration, subset and
    repeats (`mlenv run`); without it the settings are used as they are, once, uncalibrated.
    """
    unknown = [t for t in compliance if t not in COMPLIANCE_TESTS]
    if unknown:
        raise RunError(
            f"unknown compliance test {', '.join(unknown)}",
            hint=f"one of {', '.join(COMPLIANCE_TESTS)}",
        )
    tests = list(dict.fromkeys(compliance))
    run_modes = _modes_for(modes, tests)
    extra = measure.extra() if measure is not None else None
    results = []
    for scenario in scenarios:
        settings = {
            **bench.settings_for(scenario),
            **overrides.get(None, {}),
            **overrides.get(scenario, {}),
        }
        reference: dict[str, Any] | None = None
        for mode in run_modes:
            out = result_dir(results_root, section, bench, scenario, mode)
            project.reporter.info(f"running {bench.model} {scenario} {mode}")
            config = run_config(project, env, section, bench, scenario, mode, settings, out)
            results.append(_measure(env, config, project, measure, extra))
            if mode == "performance":
                reference = results[-1]
        for test in tests:
            base = results_root / section.name / bench.model / scenario
            project.reporter.info(f"running {bench.model} {scenario} compliance {test}")
            config = run_config(
                project,
                env,
                section,
                bench,
                scenario,
                "performance",
                settings,
                base / test,
                compliance=test,
                reference_dir=base,
            )
            results.append(_measure(env, config, project, measure, extra, reference=reference))
    return results


def _modes_for(modes: Sequence[str], tests: Sequence[str]) -> list[str]:
    """The modes asked, then those the compliance tests compare with (performance; accuracy
    for TEST01)."""
    needed = set(modes)
    if tests:
        needed.add("performance")
    if "TEST01" in tests:
        needed.add("accuracy")
    run_modes = list(dict.fromkeys(modes))
    return run_modes + [m for m in MODES_ORDER if m in needed and m not in run_modes]


def _measure(
    env: Environment,
    config: dict[str, Any],
    project: Project,
    measure: Measure | None,
    extra: Mapping[str, Any] | None,
    *,
    reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One run config measured as `measure` says: repeated (a performance run), or pinned to
    the `reference` run's calibrated choices (a compliance test)."""
    if measure is None:
        return run_harness(env, config, project)
    config = measure.apply(config)
    if reference is not None:
        config = measure_mod.pin(config, reference)
    elif config["mode"] == "performance" and measure.repeat > 1:
        return run_repeated(env, config, project, measure.repeat, extra=extra)
    return run_harness(env, config, project, extra=extra)
