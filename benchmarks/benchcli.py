"""What the benchmarks share: running `python -m mlenv` as a user does, stopping on failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def mlenv(project: Path, env: dict[str, str], *args: str) -> str:
    """`mlenv ARGS…` in `project` with exactly `env`; its stdout (exit with its output on failure)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlenv", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"mlenv {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout
