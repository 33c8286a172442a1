"""Write the JSON Schemas of the lock, manifest, recipe, sweep and target formats into `schemas/`.

    python tools/schemas.py           # (re)write schemas/*.schema.json from the models
    python tools/schemas.py --check   # exit 1 when the files differ from what it would write

The schemas are built by `mlenv/schema.py` from the models' own declarations; rerun this after
adding or changing a key of a format (a test fails until the files match).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlenv.schema import schema_files

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def stale(folder: Path) -> list[str]:
    """The schema files under `folder` that are missing or differ from what would be written."""
    out = []
    for name, text in schema_files().items():
        path = folder / name
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            out.append(name)
    return out


def write(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    changed = stale(folder)
    for name, text in schema_files().items():
        if name in changed:
            (folder / name).write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on a difference")
    parser.add_argument("--dir", type=Path, default=SCHEMAS_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        differ = stale(args.dir)
        for name in differ:
            print(f"{args.dir / name} differs from the models: run python tools/schemas.py")
        return 1 if differ else 0
    for name in write(args.dir):
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
