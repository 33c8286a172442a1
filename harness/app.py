"""The entry point: parse ``--config``, run, and render user-caused failures as one line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import load_config
from .errors import HarnessError
from .report import Reporter


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="mlenv_harness", description="Run one MLPerf LoadGen test described by a run config."
    )
    parser.add_argument("--config", type=Path, required=True, help="the run config (JSON)")
    args = parser.parse_args(argv)
    report = Reporter(stream=sys.stderr)
    try:
        config = load_config(args.config)
        from .pipeline import execute  # numpy, mlperf_loadgen: only once the config is sound

        execute(config, report)
    except HarnessError as e:
        print(e.render(), file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if not top or top == (__package__ or "").split(".")[0]:
            raise
        print(
            HarnessError(
                f"the Python module {top} is not installed in the environment running the "
                f"harness ({sys.executable})",
                hint="run `mlenv install` again, or `mlenv verify` to see what differs",
            ).render(),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
