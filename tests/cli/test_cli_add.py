"""`mlenv add` / `mlenv remove` through the command line: the new user's whole flow offline
(`init` → `add model` → `add dataset` → `run`), and the errors a user can cause."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from nullrun import FAST
from runproject import nullrun_project

pytestmark = pytest.mark.usefixtures("wheels")


def tiny_onnx(path: Path, features: int = 64, classes: int = 10) -> Path:
    """A one-MatMul classifier [N, features] -> [N, classes], built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.arange(features * classes, dtype=np.float32).reshape(features, classes) / 100
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def tiny_npz(path: Path, samples: int = 32, features: int = 64) -> Path:
    rng = np.random.default_rng(0)
    x = rng.random((samples, features), dtype=np.float32)
    np.savez(path, x=x, y=(np.arange(samples) % 10).astype(np.int64))
    return path


def _run(cli: Any, p: Any, *args: str) -> Any:
    return cli(p.root, *args, home=p.home, server=p.server)


def _start(p: Any) -> None:
    """The manifest `mlenv init` would write, with the offline `null` framework in place of
    onnxruntime (whose wheel the offline index does not have)."""
    p.manifest.write_text(
        '# my benchmark\nname: mine\ntargets: [host]\nrequires:\n  - "null"  # offline\n',
        encoding="utf-8",
    )


def test_new_user_flow_offline(tmp_path: Path, cli: Any) -> None:
    with nullrun_project(tmp_path) as p:
        _start(p)
        model = tiny_onnx(tmp_path / "My Model.onnx")
        data = tiny_npz(tmp_path / "data.npz")
        r = _run(cli, p, "--json", "add", "model", str(model), "--backend", "null")
        assert r.returncode == 0, r
        out = json.loads(r.stdout)["data"]
        assert out["recipe-name"] == "my-model" and out["resolved"] is True
        recipe = yaml.safe_load((p.root / "recipes/models/my-model.yaml").read_text())
        assert recipe["format"] == "onnx" and recipe["task"] == "classification"
        assert recipe["inputs"] == [{"name": "input", "shape": [-1, 64], "dtype": "float32"}]
        assert recipe["outputs"] == [{"name": "logits", "shape": [-1, 10], "dtype": "float32"}]
        assert recipe["install"][0]["artifact"]["url"] == "../../../My Model.onnx"
        r = _run(cli, p, "--json", "add", "dataset", str(data))
        assert r.returncode == 0, r
        text = p.manifest.read_text()
        assert text.startswith("# my benchmark\nname: mine\nrecipes: [./recipes]\n")
        assert '  - "null"  # offline\n' in text
        manifest = yaml.safe_load(text)
        assert manifest["benchmark"] == {"model": "my-model", "dataset": "data", "backend": "null"}
        r = _run(cli, p, "--json", "run", "--allow-invalid", "--scenario", "Offline", *FAST)
        assert r.returncode == 0, r
        modes = {entry["mode"] for entry in json.loads(r.stdout)["data"]}
        assert modes == {"performance", "accuracy"}
        # the null backend answers class 0: the accuracy is the share of 0 labels (4 of 32)
        assert "top1 0.1250" in r.err, r


def test_add_and_remove_requirements(tmp_path: Path, cli: Any) -> None:
    with nullrun_project(tmp_path) as p:
        before = p.manifest.read_text()
        r = _run(cli, p, "--json", "add", "mlperf-loadgen", "--no-resolve")
        assert r.returncode == 0, r
        assert json.loads(r.stdout)["data"]["resolved"] is False
        r = _run(cli, p, "--json", "remove", "mlperf-loadgen")
        assert r.returncode == 0, r
        assert p.manifest.read_text() == before and p.lock.exists()


def test_failed_resolve_restores_the_manifest(tmp_path: Path, cli: Any) -> None:
    with nullrun_project(tmp_path) as p:
        before = p.manifest.read_bytes()
        r = _run(cli, p, "add", "no-such-recipe")
        assert r.returncode == 1, r
        assert "mlenv.yaml is restored as it was" in r.err
        assert p.manifest.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("remove", "nothere"), "nothere is not in requires:"),
        (("add", "model", "missing.onnx"), "no such file"),
        (("add", "model", "a", "b"), "takes one PATH"),
        (("add", "dataset", "x.npz", "--backend", "x"), "--backend is not an option"),
        (("add", "Not A Requirement!"), "not a requirement"),
    ],
)
def test_user_errors(tmp_path: Path, cli: Any, args: tuple[str, ...], says: str) -> None:
    with nullrun_project(tmp_path) as p:
        before = p.manifest.read_bytes()
        r = _run(cli, p, *args)
        assert r.returncode == 1, r
        assert says in r.err and "Traceback" not in r.stderr
        assert p.manifest.read_bytes() == before


def test_not_a_model(tmp_path: Path, cli: Any) -> None:
    with nullrun_project(tmp_path) as p:
        junk = tmp_path / "junk.onnx"
        junk.write_bytes(b"\x08\x07 this is not a model")
        r = _run(cli, p, "add", "model", str(junk))
        assert r.returncode == 1 and "cannot read the model" in r.err, r
        truncated = tmp_path / "cut.onnx"
        full = tiny_onnx(tmp_path / "full.onnx").read_bytes()
        truncated.write_bytes(full[: len(full) // 2])
        r = _run(cli, p, "add", "model", str(truncated))
        assert r.returncode == 1 and "cannot read the model" in r.err, r
