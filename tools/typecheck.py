"""Run mypy over the real `mlenv.*` import names.

setuptools maps the top-level folders into one namespace (`resolver/` is `mlenv.resolver`, …),
which static checkers cannot follow. This lays a symlinked `mlenv/` tree in a temporary folder
and runs mypy there.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = {
    "resolver": "resolver",
    "envs": "envs",
    "harness": "harness",
    "resultsdb": "resultsdb",
    "explore": "explore",
    "submission": "submission",
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlenv-typecheck-") as tmp:
        pkg = Path(tmp, "mlenv")
        pkg.mkdir()
        for item in (ROOT / "mlenv").iterdir():
            if item.name != "__pycache__":
                (pkg / item.name).symlink_to(item)
        for name, folder in MAPPED.items():
            (pkg / name).symlink_to(ROOT / folder)
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "-p",
            "mlenv",
        ]
        return subprocess.run(cmd, cwd=tmp, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
