"""What a data set is (`mlenv add dataset`, CONTRACTS §17): a NumPy `.npz` (arrays x, y), a
CSV file (one row a sample, a label column), or a folder of images (class subfolders, or an
ImageNet-style `val_map.txt`); and the dataset recipe that points the harness at it.

Only headers are read: the `.npz` arrays' shapes come from their `.npy` headers inside the
zip (nothing is unpickled), a CSV is scanned line by line, an image folder is listed.
"""

from __future__ import annotations

import csv
import hashlib
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlenv import manifest_edit as me
from mlenv.envs.archives import tree_digest
from mlenv.errors import UsageError
from mlenv.recipe import Recipe

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TABLE_DTYPES = ("float32", "float16", "uint8", "int64", "int32")  # the harness's npz/csv dtypes
PERFORMANCE_SAMPLES = 1024
# torchvision's ImageNet normalization on 0..255 pixel values (the harness's image-folder scale)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataFacts:
    kind: str  # npz | csv | image-folder
    samples: int
    preprocess: str  # the recipe's `preprocess:` flow mapping
    notes: tuple[str, ...] = ()  # comment lines for the recipe


def _bad(path: Path, why: str, hint: str | None = None) -> UsageError:
    return UsageError(
        f"cannot use {path} as a data set",
        where=str(path),
        why=why,
        hint=hint or "name an .npz file (arrays x, y), a .csv file, or a folder of images",
    )


def _npy_shape(zf: zipfile.ZipFile, member: str, path: Path) -> tuple[tuple[int, ...], str]:
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject:
        raise _bad(path, f"array {member[:-4]} holds Python objects (pickles are never loaded)")
    return tuple(shape), str(dtype)


def _npz(path: Path, dtype: str) -> DataFacts:
    try:
        with zipfile.ZipFile(path) as zf:
            members = set(zf.namelist())
            missing = [a for a in ("x", "y") if f"{a}.npy" not in members]
            if missing:
                found = ", ".join(sorted(m[:-4] for m in members if m.endswith(".npy"))) or "none"
                raise _bad(path, f"no array {' or '.join(missing)} (arrays: {found})",
                           "save it with np.savez(path, x=inputs, y=labels)")  # fmt: skip
            x_shape, _ = _npy_shape(zf, "x.npy", path)
            y_shape, _ = _npy_shape(zf, "y.npy", path)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise _bad(path, f"not a readable .npz archive ({e})") from e
    if len(y_shape) != 1 or not x_shape or x_shape[0] != y_shape[0]:
        raise _bad(path, f"x has shape {list(x_shape)} and y {list(y_shape)}: y must be 1-D, "
                   "one label per row of x")  # fmt: skip
    return DataFacts(
        kind="npz",
        samples=int(y_shape[0]),
        preprocess=f"{{name: npz, x: x, y: y, dtype: {dtype}}}",
        notes=(f"x: {list(x_shape)}, y: {list(y_shape)}",),
    )


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv(path: Path, label: str | None) -> DataFacts:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = (row for row in csv.reader(f) if row)
            first = next(rows, None)
            count = sum(1 for _ in rows)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise _bad(path, f"not a readable CSV file ({e})") from e
    if first is None:
        raise _bad(path, "the file is empty")
    header = not all(_number(c) for c in first)
    count += 0 if header else 1
    names = [c.strip() for c in first] if header else [str(i) for i in range(len(first))]
    if label is None:
        chosen = names[-1] if header else str(len(first) - 1)
    elif label in names or (label.isdigit() and int(label) < len(first)):
        chosen = label
    else:
        raise _bad(path, f"no column {label!r} (columns: {', '.join(names)})",
                   "pass --label with a column name or a 0-based index")  # fmt: skip
    rendered = chosen if chosen.isdigit() else me.render_scalar(chosen, flow=True)
    if count < 1:
        raise _bad(path, "the file has a header and no rows")
    return DataFacts(
        kind="csv",
        samples=count,
        preprocess=f"{{name: csv, label: {rendered}, header: auto}}",
        notes=(f"{len(first)} columns; the label column: {chosen}",),
    )


def _images(folder: Path) -> list[Path]:
    """The images the harness reads from one class folder (hidden files skipped, as it does)."""
    return [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]


def _layout(model: Recipe | None, size: Sequence[int] | None) -> tuple[list[int], str]:
    if size:
        if len(size) != 2:
            raise UsageError("--size takes H,W (two numbers)", hint="e.g. --size 224,224")
        return list(size), "NCHW"
    shape = list(model.inputs[0].shape) if model is not None and model.inputs else []
    if len(shape) == 4 and shape[1] in (1, 3) and min(shape[2:]) > 0:
        return shape[2:], "NCHW"
    if len(shape) == 4 and shape[3] in (1, 3) and min(shape[1:3]) > 0:
        return shape[1:3], "NHWC"
    raise UsageError(
        "the image size is unknown",
        why="the benchmark names no model with a fixed [N, 3, H, W] or [N, H, W, 3] input",
        hint="pass --size H,W (or `mlenv add model` first)",
    )


def _image_folder(path: Path, model: Recipe | None, size: Sequence[int] | None) -> DataFacts:
    listing = path / "val_map.txt"
    if listing.is_file():
        lines = [ln for ln in listing.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for n, line in enumerate(lines, 1):
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise _bad(path, f"val_map.txt line {n} is not `FILE LABEL`: {line!r}")
            if not (path / parts[0]).is_file():
                raise _bad(path, f"val_map.txt line {n} names {parts[0]}, which is not there")
        count, extra, note = len(lines), ", list: val_map.txt", "listed in val_map.txt"
    else:
        classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        count = sum(len(_images(c)) for c in classes)
        extra, note = "", f"{len(classes)} class folders (labels: their sorted order)"
    if count < 1:
        raise _bad(path, "no images: neither class subfolders of images nor a val_map.txt",
                   "put images in one subfolder per class, or list `FILE LABEL` in val_map.txt")  # fmt: skip
    hw, layout = _layout(model, size)
    mean = ", ".join(str(v) for v in IMAGENET_MEAN)
    std = ", ".join(str(v) for v in IMAGENET_STD)
    return DataFacts(
        kind="image-folder",
        samples=count,
        preprocess=f"{{name: image-folder, size: {hw}, layout: {layout}, mean: [{mean}], "
        f"std: [{std}]{extra}}}",
        notes=(
            f"{count} images, {note}",
            "mean/std are ImageNet's (on 0..255 pixels): use what the model was trained with",
        ),
    )


def needs_pillow(path: Path) -> bool:
    return path.is_dir()


def inspect_dataset(
    path: Path, *, label: str | None, size: Sequence[int] | None, model: Recipe | None
) -> DataFacts:
    if path.is_dir():
        return _image_folder(path, model, size)
    if not path.is_file():
        raise _bad(path, "no such file or folder", "check the path")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        dtype = model.inputs[0].dtype if model is not None and model.inputs else "float32"
        return _npz(path, dtype if dtype in TABLE_DTYPES else "float32")
    if suffix == ".csv":
        return _csv(path, label)
    raise _bad(path, f"unknown data set format {suffix or '(no suffix)'!r}")


def file_facts(path: Path) -> tuple[str, int]:
    """(sha256, size) of a file, read once (the size is how far the digest read)."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        return digest, f.tell()


def relative_url(target: Path, recipe: Path) -> str:
    """`target` as a POSIX path relative to the folder of `recipe`."""
    return Path(os.path.relpath(target.absolute(), recipe.parent.absolute())).as_posix()


def _install_entry(path: Path, recipe: Path) -> list[str]:
    url = me.render_scalar(relative_url(path, recipe), flow=True)
    if path.is_dir():
        return [
            "  # the folder stays where it is; its tree sha256 is checked when it is installed",
            f"  - local: {{path: {url}, tree-sha256: {tree_digest(path)}}}",
        ]
    sha, size = file_facts(path)
    return [
        "  # the file stays where it is; its sha256 is checked when it is installed",
        f"  - artifact: {{url: {url}, sha256: {sha}, size: {size}}}",
    ]


def dataset_recipe(
    name: str,
    path: Path,
    recipe: Path,
    *,
    task: str | None = None,
    label: str | None = None,
    size: Sequence[int] | None = None,
    model: Recipe | None = None,
) -> str:
    """The text of `recipes/datasets/<name>.yaml` for the data set at `path`."""
    facts = inspect_dataset(path, label=label, size=size, model=model)
    default = "image-classification" if facts.kind == "image-folder" else "classification"
    chosen = task or (model.task if model is not None and model.task else default)
    why = (
        ""
        if task
        else "  # the model's task"
        if model is not None and model.task
        else "  # a guess"
    )
    lines = [
        f"# written by `mlenv add dataset {path.name}`; edit freely (`mlenv recipes lint` checks it)",
        *(f"# {note}" for note in facts.notes),
        f"name: {name}",
        "kind: dataset",
        f"summary: {me.render_scalar(f'{path.name} ({facts.kind}, {facts.samples} samples)', flow=False)}",
        'versions: ["1.0"]',
        f"task: {me.render_scalar(chosen, flow=False)}{why}",
        f"samples: {facts.samples}",
        f"performance-sample-count: {min(facts.samples, PERFORMANCE_SAMPLES)}",
        f"preprocess: {facts.preprocess}",
        "metric: top1",
    ]
    if facts.kind == "image-folder":
        lines.append("requires: [pillow]")
    return "\n".join([*lines, "install:", *_install_entry(path, recipe)]) + "\n"
