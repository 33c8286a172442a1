"""Write the JSON Schemas of the lock, manifest, recipe, sweep and target formats into `schemas/`,
and the field reference rendered from them into `docs/reference/`.

    python tools/schemas.py           # (re)write schemas/*.schema.json and docs/reference/*.md
    python tools/schemas.py --check   # exit 1 when a file differs from what it would write

The schemas are built by `mlenv/schema.py` from the models' own declarations and the reference
by `mlenv/schemadoc.py` from those schemas; rerun this after adding or changing a key of a
format, or a key's description (a test fails until the files match).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from mlenv.schema import schema_files
from mlenv.schemadoc import reference_files

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = ROOT / "schemas"
DOCS_DIR = ROOT / "docs" / "reference"
Files = Callable[[], dict[str, str]]


def stale(folder: Path, files: Files = schema_files) -> list[str]:
    """The files under `folder` that are missing or differ from what would be written."""
    out = []
    for name, text in files().items():
        path = folder / name
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            out.append(name)
    return out


def write(folder: Path, files: Files = schema_files) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    changed = stale(folder, files)
    for name, text in files().items():
        if name in changed:
            (folder / name).write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on a difference")
    parser.add_argument("--dir", type=Path, default=SCHEMAS_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    outputs: tuple[tuple[Path, Files], ...] = (
        (args.dir, schema_files),
        (args.docs_dir, reference_files),
    )
    if args.check:
        differ = [folder / name for folder, files in outputs for name in stale(folder, files)]
        for path in differ:
            print(f"{path} differs from the models: run python tools/schemas.py")
        return 1 if differ else 0
    for folder, files in outputs:
        for name in write(folder, files):
            print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
