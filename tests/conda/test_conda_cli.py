"""The conda layer through the command line: resolve -> lock (relative channel URLs) ->
install (prefix beside the venv) -> exec sees CONDA_PREFIX -> verify catches drift."""

from __future__ import annotations

import subprocess
from pathlib import Path

import localpypi as H
import yaml

RECIPE = """\
name: tinytool
kind: tool
summary: a conda package from the project's own channel
versions: ["1.0"]
install:
  - conda: {channels: ["./channel"], specs: ["tinytool", "tinydata"]}
"""


def mlenv(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return H.run_mlenv_at(project, home, *args, extra={"MLENV_HOST_CUDA": "none"}, timeout=300)


def test_conda_packages_from_manifest_to_environment(project: Path, home: Path) -> None:
    (project / "recipes" / "tools").mkdir(parents=True)
    (project / "recipes" / "tools" / "tinytool.yaml").write_text(RECIPE)
    (project / "mlenv.yaml").write_text("name: c\nrecipes: [./recipes]\nrequires: [tinytool]\n")

    resolved = mlenv(project, home, "resolve")
    assert resolved.returncode == 0, resolved.stderr
    text = (project / "mlenv.lock").read_text()
    assert str(project) not in text and str(home) not in text
    (section,) = yaml.safe_load(text)["targets"].values()
    pins = {c["name"]: c for c in section["conda"]}
    assert set(pins) == {"tinytool", "tinylib", "tinydata"}
    assert pins["tinylib"]["version"] == "2.0"
    assert all(c["url"].startswith("./channel/") for c in pins.values())

    installed = mlenv(project, home, "install")
    assert installed.returncode == 0, installed.stderr
    env = Path(installed.stdout.strip())
    assert (env / "conda" / "share" / "tinylib" / "data.txt").is_file()
    ran = mlenv(project, home, "exec", "--", "hello")  # conda/bin is on PATH
    assert ran.returncode == 0, ran.stderr
    assert (
        ran.stdout.strip() == f"hello from {env / 'conda'}"
    )  # the final prefix, not the build folder

    shown = mlenv(project, home, "exec", "--", "sh", "-c", 'echo "$CONDA_PREFIX"')
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(env / "conda")

    assert mlenv(project, home, "verify").returncode == 0
    next((env / "conda" / "conda-meta").glob("tinydata-*.json")).unlink()
    drift = mlenv(project, home, "verify")
    assert drift.returncode == 1
    assert "conda tinydata" in drift.stderr and "missing" in drift.stderr
