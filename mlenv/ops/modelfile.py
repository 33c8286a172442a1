"""What a model file is: its format, and its input and output tensors where they can be read
cheaply (`mlenv add model`, CONTRACTS §17).

ONNX is read with the `onnx` package (external data never loaded); TorchScript is a zip whose
structure is checked without unpickling anything or importing torch (its tensors stay unknown);
TFLite is recognised by its flatbuffer identifier `TFL3` (its tensors stay unknown too).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from mlenv.errors import UsageError

MAX_MODEL_BYTES = 2 * 1024**3  # the protobuf limit of an ONNX file without external data
FORMAT_BACKENDS = {"onnx": "onnxruntime", "torchscript": "torch", "tflite": "tflite"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Tensor:
    name: str
    shape: tuple[int, ...]  # -1 where the dimension is symbolic or unknown
    dtype: str  # a NumPy dtype name: float32, int64, …

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFile:
    format: str  # onnx | torchscript | tflite
    inputs: tuple[Tensor, ...] = ()
    outputs: tuple[Tensor, ...] = ()
    opset: int | None = None
    tensors_known: bool = True  # False: the format's tensors were not read (user states them)

    @property
    def backend(self) -> str:
        return FORMAT_BACKENDS[self.format]


def _unreadable(path: Path, why: str, hint: str | None = None) -> UsageError:
    return UsageError(
        f"cannot read the model {path}",
        where=str(path),
        why=why,
        hint=hint or "name an ONNX (.onnx), TorchScript (.pt) or TFLite (.tflite) file",
    )


def inspect_model(path: Path) -> ModelFile:
    """The format and tensors of the model file at `path`; a UsageError when it is missing,
    too large, truncated, or of no known format."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
    except FileNotFoundError as e:
        raise _unreadable(path, "no such file", "check the path") from e
    except OSError as e:
        raise _unreadable(path, e.strerror or str(e), "name a readable file") from e
    if not path.is_file():
        raise _unreadable(path, "not a regular file")
    if size > MAX_MODEL_BYTES:
        raise _unreadable(
            path,
            f"the file is {size / 1024**3:.1f} GiB; mlenv inspects models up to "
            f"{MAX_MODEL_BYTES // 1024**3} GiB",
            "keep large weights as ONNX external data beside a small .onnx file",
        )
    if head[4:8] == b"TFL3":
        return ModelFile(format="tflite", tensors_known=False)
    if head[:4] == b"PK\x03\x04":
        return _torchscript(path)
    return _onnx(path)


def _torchscript(path: Path) -> ModelFile:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise _unreadable(path, f"a damaged zip archive ({e})") from e
    markers = ("/data.pkl", "/constants.pkl")
    if not any(n.endswith(markers) for n in names):
        raise _unreadable(path, "a zip archive, but not a TorchScript model (no */data.pkl)")
    return ModelFile(format="torchscript", tensors_known=False)


def _dtype(elem_type: int) -> str:
    from onnx import helper

    try:
        return str(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        return "unknown"


def _tensors(values: object, skip: set[str]) -> tuple[Tensor, ...]:
    out = []
    for value in values:  # type: ignore[attr-defined]
        if value.name in skip:
            continue
        tensor = value.type.tensor_type
        dims = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
            for d in tensor.shape.dim
        )
        out.append(Tensor(name=value.name, shape=dims, dtype=_dtype(tensor.elem_type)))
    return tuple(out)


def _onnx(path: Path) -> ModelFile:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise _unreadable(path, f"not an ONNX, TorchScript or TFLite file ({e})") from e
    graph = model.graph
    if not graph.node and not graph.output:
        raise _unreadable(path, "not an ONNX model (no graph): unknown or truncated file")
    initializers = {i.name for i in graph.initializer}
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return ModelFile(
        format="onnx",
        inputs=_tensors(graph.input, initializers),
        outputs=_tensors(graph.output, set()),
        opset=opsets[0] if opsets else None,
    )


def guess_task(model: ModelFile) -> tuple[str, str]:
    """(task, the sentence saying why) from the first output's shape."""
    if not model.outputs:
        return "classification", "the file does not say; guessed; change it if wrong"
    shape = list(model.outputs[0].shape)
    if len(shape) == 2 and shape[1] != 1:
        return "classification", f"guessed from the output shape {shape}; change it if wrong"
    if len(shape) == 2 or len(shape) == 1:
        return "regression", f"guessed from the output shape {shape}; change it if wrong"
    return "classification", f"a guess (output shape {shape} is not [N, K]); change it if wrong"
