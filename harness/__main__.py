"""``python -m mlenv_harness --config /abs/run.json``: one LoadGen test, results in output_dir."""

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
