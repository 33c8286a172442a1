"""Bring-your-own tables: a NumPy ``.npz`` archive or a numeric CSV file, one row per sample.

``npz`` (``preprocess: {name: npz, x: x, y: y, dtype: float32}``): the dataset is an ``.npz``
file (or a folder holding exactly one). Array ``x`` holds the inputs, axis 0 the samples (at
least 2-D: ``[samples, features…]``); array ``y`` the integer class labels, 1-D, one per
sample. Inputs are cast to ``dtype`` (float32, float16, uint8, int64, int32; an integer dtype
takes only whole numbers that fit). Read with ``allow_pickle=False``: object arrays are refused.

``csv`` (``preprocess: {name: csv, label: <name or 0-based index>, header: auto, dtype:
float32}``): the dataset is a ``.csv`` file (or a folder holding exactly one); every cell a
number. ``label`` names the label column (by header name or 0-based index; default the last
column); the other columns, in file order, are the inputs ``[samples, columns - 1]``.
``header: auto`` takes the first row as names when any of its cells is not a number. Only the
rows a run needs are read. ``delimiter`` (default ``,``) reads semicolon or tab files.

Labels of both are class indices >= 0, scored with metric ``top1`` against the argmax of the
model's ``[N, classes]`` output; ``--samples N`` takes the first N rows.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import HarnessError, TooFewSamples
from .dataset import Allocate, Dataset, Param, one_of, read_params, text

DTYPES = ("float32", "float16", "uint8", "int64", "int32")
DTYPE_PARAM = Param("float32", one_of(*DTYPES), f"one of {', '.join(DTYPES)}")

NPZ_PARAMS: Mapping[str, Param] = {
    "x": Param("x", text, "an array name"),
    "y": Param("y", text, "an array name"),
    "dtype": DTYPE_PARAM,
}


def single_file(path: Path, suffix: str, *, name: str) -> Path:
    """The dataset path is the file itself, or a folder holding exactly one ``*suffix`` file."""
    if path.is_file():
        return path
    found = []
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(suffix))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise HarnessError(
            f"preprocessor {name}: {what} {suffix} files in {path}",
            hint=f"point the dataset recipe at the {suffix} file itself",
        )
    return found[0]


def cast_into(out: NDArray[Any], values: NDArray[Any], *, source: str) -> None:
    """``out[...] = values``; whole numbers only, within range, when ``out`` is integer."""
    if np.issubdtype(out.dtype, np.integer) and values.dtype.kind in "fc":
        info = np.iinfo(out.dtype)
        finite = bool(np.isfinite(values).all())
        if not finite or not np.array_equal(values, np.round(values)):
            raise HarnessError(
                f"{source}: inputs hold fractions or NaN/inf, which {out.dtype} cannot hold",
                hint="choose a float dtype in the dataset recipe's preprocess",
            )
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise HarnessError(
                f"{source}: inputs range {values.min()}..{values.max()}, "
                f"outside {out.dtype}'s {info.min}..{info.max}",
                hint="choose a wider dtype in the dataset recipe's preprocess",
            )
    out[...] = values


def class_labels(values: NDArray[Any], *, source: str) -> NDArray[np.int64]:
    """Integer class indices >= 0 (whole-number floats accepted)."""
    if values.dtype.kind not in "biuf":
        raise HarnessError(
            f"{source}: labels are {values.dtype}, not numbers",
            hint="labels must be integer class indices 0, 1, 2, …",
        )
    if values.dtype.kind == "f" and (
        not np.isfinite(values).all() or not np.array_equal(values, np.round(values))
    ):
        raise HarnessError(
            f"{source}: labels hold fractions or NaN; top1 needs integer class indices",
            hint="store the class index of each sample (a regression target cannot be scored)",
        )
    labels = values.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise HarnessError(
            f"{source}: labels include {labels.min()}; class indices start at 0",
            hint="map the classes to 0, 1, 2, … (the index of the model's output)",
        )
    return labels


def load_npz(path: Path, params: Mapping[str, object], samples: int, allocate: Allocate) -> Dataset:
    name = "npz"
    p = read_params(params, NPZ_PARAMS, name=name)
    file = single_file(path, ".npz", name=name)
    x, y = _npz_arrays(file, str(p["x"]), str(p["y"]))
    where = f"{file}: array {p['x']!r}"
    if x.ndim < 2 or x.dtype.kind not in "biuf":
        raise HarnessError(
            f"{where} is {x.dtype} {list(x.shape)}; inputs must be numbers shaped "
            "[samples, features…]",
            hint="save x with one row per sample, e.g. x.reshape(len(x), -1)",
        )
    if y.ndim != 1 or len(y) != len(x):
        raise HarnessError(
            f"{file}: array {p['y']!r} is {list(y.shape)}; labels must be 1-D, "
            f"one per sample ({len(x)})",
            hint="save y as one integer class index per row of x (of one-hot rows: y.argmax(1))",
        )
    if len(x) < samples:
        raise TooFewSamples(f"dataset {file}", found=len(x), wanted=samples, unit="samples")
    labels = class_labels(y[:samples], source=f"{file}: array {p['y']!r}")
    features = allocate((samples, *x.shape[1:]), str(p["dtype"]))
    cast_into(features, x[:samples], source=where)
    return Dataset(features=(features,), labels=labels)


def _npz_arrays(file: Path, x_name: str, y_name: str) -> tuple[NDArray[Any], NDArray[Any]]:
    hint = "save it with numpy.savez(path, x=inputs, y=labels)"
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise HarnessError(f"{file}: is a single .npy array, not an .npz archive", hint=hint)
        with loaded as archive:
            names = list(archive.files)
            missing = [n for n in (x_name, y_name) if n not in names]
            if missing:
                raise HarnessError(
                    f"{file}: no array {' or '.join(map(repr, missing))}; it holds "
                    f"{', '.join(map(repr, names)) or 'no arrays'}",
                    hint="name the arrays with the preprocess parameters x and y, or " + hint,
                )
            return archive[x_name], archive[y_name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise HarnessError(
            f"{file}: cannot read it as an .npz archive without pickle: {e}", hint=hint
        ) from e


def header_flag(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in ("auto", "true", "false"):
        return str(value)
    raise ValueError


def column(value: object) -> str | int:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError


def delimiter(value: object) -> str:
    if isinstance(value, str) and len(value) == 1 and value not in '"\r\n':
        return value
    raise ValueError


CSV_PARAMS: Mapping[str, Param] = {
    "label": Param(None, column, "a column name or a 0-based column index"),
    "header": Param("auto", header_flag, "auto, true or false"),
    "dtype": DTYPE_PARAM,
    "delimiter": Param(",", delimiter, "one character"),
}


def load_csv(path: Path, params: Mapping[str, object], samples: int, allocate: Allocate) -> Dataset:
    name = "csv"
    p = read_params(params, CSV_PARAMS, name=name)
    file = single_file(path, ".csv", name=name)
    table = _read_rows(file, samples, header=str(p["header"]), sep=str(p["delimiter"]))
    label = _label_index(file, table.names, p["label"], table.width)
    source = f"dataset {file}"
    values = np.array(
        [_numbers(file, number, row, table.names) for number, row in table.rows], dtype=np.float64
    ).reshape(len(table.rows), table.width)
    if len(values) < samples:
        raise TooFewSamples(source, found=len(values), wanted=samples, unit="rows")
    where = f"{source}: column {_column_name(label, table.names)}"
    labels = class_labels(values[:, label], source=where)
    features = allocate((samples, table.width - 1), str(p["dtype"]))
    cast_into(features, np.delete(values, label, axis=1), source=source)
    return Dataset(features=(features,), labels=labels)


@dataclass(frozen=True)
class _Table:
    names: list[str] | None  # the header row, when there is one
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)
    width: int


def _read_rows(file: Path, samples: int, *, header: str, sep: str) -> _Table:
    names: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    width = 0
    try:
        with file.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=sep)
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                if not width:
                    width = len(cells)
                    if header == "true" or (header == "auto" and not _all_numbers(cells)):
                        names = [c.strip() for c in cells]
                        continue
                if len(cells) != width:
                    raise HarnessError(
                        f"{file}:{reader.line_num}: {len(cells)} cells, the first row has {width}",
                        hint="every row needs the same columns",
                    )
                rows.append((reader.line_num, cells))
                if len(rows) == samples:
                    break
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise HarnessError(
            f"{file}: cannot read it as a UTF-8 CSV file: {e}",
            hint="save it as CSV text in UTF-8 (a spreadsheet's 'CSV UTF-8' export)",
        ) from e
    if width < 2:
        raise HarnessError(
            f"{file}: {'is empty' if not width else 'has one column'}; a CSV dataset needs "
            "input columns and a label column",
            hint=f"separate the cells with {sep!r} (set preprocess delimiter for another)",
        )
    return _Table(names, rows, width)


def _all_numbers(cells: list[str]) -> bool:
    try:
        for cell in cells:
            float(cell)
    except ValueError:
        return False
    return True


def _label_index(file: Path, names: list[str] | None, label: object, width: int) -> int:
    if label is None:
        return width - 1
    if isinstance(label, int):
        if label >= width:
            raise HarnessError(
                f"{file}: label column {label} does not exist; columns are 0..{width - 1}",
                hint="set preprocess label to a column index or name",
            )
        return label
    if names is None or label not in names:
        known = f"the header names {', '.join(map(repr, names))}" if names else "no header row"
        raise HarnessError(
            f"{file}: no column named {label!r}; the file has {known}",
            hint="set preprocess label to a header name or a 0-based index (header: true "
            "when the first row holds the names)",
        )
    return names.index(str(label))


def _column_name(index: int, names: list[str] | None) -> str:
    return f"{names[index]!r} (index {index})" if names else f"index {index}"


def _numbers(file: Path, number: int, cells: list[str], names: list[str] | None) -> list[float]:
    out = []
    for index, cell in enumerate(cells):
        try:
            out.append(float(cell))
        except ValueError:
            raise HarnessError(
                f"{file}, line {number}, column {_column_name(index, names)}: {cell!r} is "
                "not a number",
                hint="a CSV dataset holds numbers only: encode categories as numbers and "
                "fill or drop missing cells",
            ) from None
    return out
