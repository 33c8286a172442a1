"""The run config has one schema (`mlenv.harness.config`) shared by its writer and its reader.

The real producer (`benchrun.run_config`, on a resolved and installed offline project) writes a
document; the harness's consumer reads it back, offline, to the same value; a key either side
does not know, or one missing, is refused naming it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nullrun import SAMPLES
from runproject import opened_project

from mlenv.harness.config import RunConfig, load_config
from mlenv.harness.errors import HarnessError
from mlenv.ops import benchrun
from mlenv.ops.install import install


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """What the producer writes for Offline performance and for a TEST04 compliance run."""
    with opened_project(tmp_path_factory.mktemp("runconfig")) as (written, project):
        project.resolve()
        done = install(project)
        bench = project.manifest.benchmark
        assert bench is not None
        args = (project, done.env, done.section, bench, "Offline", "performance")
        out = written.root / "results" / "x"
        plain = benchrun.run_config(*args, {"min_duration": 100}, out)
        audit = benchrun.run_config(
            *args, {}, out / "TEST04", compliance="TEST04", reference_dir=out
        )
        yield {"plain": plain, "audit": audit, "env": done.env, "section": done.section}


def test_the_consumer_reads_the_producers_document_back(produced: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(produced["plain"]))  # what crosses the process boundary
    config = RunConfig.from_dict(doc, source="run config")
    assert config.to_dict() == doc
    assert (config.benchmark, config.dataset) == ("zeromodel", "smalldigits")
    assert (config.scenario, config.mode) == ("Offline", "performance")
    assert config.settings == {"min_duration": 100}
    assert config.backend.name == "null" and config.backend.version == "1.0"
    assert config.data.samples == SAMPLES and config.data.preprocess == "digits"
    assert config.data.preprocess_params == {"scale": 16}
    assert config.data.digest and config.data.digest.startswith("sha256:")
    assert [t.name for t in config.model.inputs] == ["input"]
    assert config.model.inputs[0].shape == (-1, 64)
    assert config.model.path.is_file() and config.data.path.is_file()
    assert config.target_name == produced["section"].name
    assert config.lock == produced["section"].digest()
    assert config.cache_dir is not None and config.cache_dir.parent == produced["env"].path
    assert config.compliance is None


def test_a_compliance_document_round_trips_through_the_file(
    produced: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(produced["audit"]), encoding="utf-8")
    config = load_config(path)
    assert config.compliance is not None and config.compliance.test == "TEST04"
    assert config.to_dict() == produced["audit"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d.update(extra=1), "extra: unknown key"),
        (lambda d: d["model"].update(weights="x"), "model.weights: unknown key"),
        (lambda d: d["backend"].pop("name"), "backend.name: missing"),
        (lambda d: d["data"].pop("metric"), "data.metric: missing"),
        (lambda d: d["data"]["preprocess"].update(scale=2), "data.preprocess.scale: unknown key"),
        (lambda d: d.pop("output_dir"), "output_dir: missing"),
        (lambda d: d.update(version=2), "this harness reads version 1"),
    ],
)
def test_the_consumer_refuses_unknown_and_missing_keys(
    produced: dict[str, Any], change: Any, needle: str
) -> None:
    doc = copy.deepcopy(produced["plain"])
    change(doc)
    with pytest.raises(HarnessError) as caught:
        RunConfig.from_dict(doc, source="run config run.json")
    assert needle in caught.value.what
    assert caught.value.what.startswith("run config run.json: ")
    assert caught.value.hint


def test_the_producer_cannot_write_an_undeclared_key() -> None:
    from mlenv.harness.config.model import TensorSpec

    with pytest.raises(ValueError, match="unknown"):
        TensorSpec.KEYS.check({"name": "x", "shape": [1], "dtype": "float32", "layout": "NCHW"})
