"""Backends chosen by the framework recipe name: each one runs the "pick first ten" digits
model for real where its package is installed (top1 is exactly 0.75, as with onnxruntime);
one that is missing from the environment is one `error:` line naming the module and recipe.

CI installs torch, openvino and ai-edge-litert so that none of these is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness_tasks import make_tflite, make_torch_models
from harness_testing import HARNESS, PACKAGE, RunHarness
from mlenv_harness.backends.ort import choose_providers


def _accuracy(run_harness: RunHarness, config: dict[str, Any], **backend: Any) -> dict[str, Any]:
    config["backend"].update(backend)
    config["mode"] = "accuracy"
    run = run_harness(config)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    result = run.result()
    assert result["accuracy"] == {"top1": 0.75}
    return result


def test_onnxruntime_records_its_provider(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    result = _accuracy(run_harness, base_config)
    assert result["backend"]["provider"] == "CPUExecutionProvider"


def test_provider_choice() -> None:
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(
        ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    ) == ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture(scope="module")
def torch_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    return make_torch_models(tmp_path_factory.mktemp("torch"))


@pytest.mark.parametrize("kind", ["torchscript", "export", "pickled"])
def test_torch(
    run_harness: RunHarness,
    base_config: dict[str, Any],
    torch_models: dict[str, Path],
    kind: str,
) -> None:
    import torch

    base_config["model"].update(path=str(torch_models[kind]), format="torchscript")
    result = _accuracy(run_harness, base_config, name="torch")
    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the harness runs it
    assert result["backend"]["name"] == "torch" and result["backend"]["provider"] == device


def test_openvino_reads_the_onnx_model(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    pytest.importorskip("openvino")
    result = _accuracy(run_harness, base_config, name="openvino", workers=2)
    assert result["backend"]["provider"] == "CPU"
    base_config["mode"] = "performance"
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert run.result()["valid"] is True


def test_tflite(run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("flatbuffers")
    base_config["model"].update(path=str(make_tflite(tmp_path / "pick.tflite")), format="tflite")
    # two workers, each with its own interpreter; batches of 7 resize the input tensor
    _accuracy(run_harness, base_config, name="tflite", workers=2, max_batch=7)


def test_null_backend_measures_the_harness(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    base_config["backend"]["name"] = "null"
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    result = run.result()
    assert result["valid"] is True and result["backend"] == {
        "name": "null",
        "version": "0",
        "provider": "none",
    }


@pytest.mark.parametrize(
    ("backend", "module", "model_format"),
    [
        ("torch", "torch", "torchscript"),
        ("openvino", "openvino", "onnx"),
        ("tflite", "ai_edge_litert", "tflite"),
    ],
)
def test_missing_backend(
    run_harness: RunHarness,
    base_config: dict[str, Any],
    tmp_path: Path,
    backend: str,
    module: str,
    model_format: str,
) -> None:
    launcher = tmp_path / "launcher"
    launcher.mkdir()
    (launcher / PACKAGE).symlink_to(HARNESS)
    (launcher / module).mkdir()
    (launcher / module / "__init__.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{module}'\", name='{module}')\n"
    )
    base_config["backend"]["name"] = backend
    base_config["model"]["format"] = model_format
    run = run_harness(base_config, launcher=launcher)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.error_line() == (
        f"error: backend {backend} needs the Python module {module}, which is not installed "
        f"in this environment (hint: add {backend} to the manifest's requires, then run "
        "`mlenv install`)"
    )


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("torch", "backend torch runs torchscript models, the model's format is onnx"),
        ("tflite", "backend tflite runs tflite models, the model's format is onnx"),
    ],
)
def test_backend_rejects_other_formats(
    run_harness: RunHarness, base_config: dict[str, Any], backend: str, message: str
) -> None:
    pytest.importorskip({"torch": "torch", "tflite": "ai_edge_litert"}[backend])
    base_config["backend"]["name"] = backend
    run = run_harness(base_config)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert message in run.error_line()
