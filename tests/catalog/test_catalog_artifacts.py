"""Each artifact kind a recipe may name (single file, tar, zip, a file in a wheel) is locked,
downloaded through MLENV_MIRROR from a 127.0.0.1 upstream, verified and placed by `mlenv install`.
The recipes are stand-ins carrying the stand-in files' own sha256 (never the catalog's)."""

from __future__ import annotations

import base64
import io
import tarfile
import zipfile
from pathlib import Path

from catalog_helpers import Upstream, explain, run_mlenv, sha256

MODEL = b"\x08\x07stand-in onnx bytes\n" * 64
LABELS = b"cat\ndog\nbird\n"
IMAGE = bytes(range(256)) * 8
ANNOTATIONS = b'{"images": [], "annotations": []}\n'
TABLE = b"a,b\n1,2\n3,4\n"
DATE = (1980, 1, 1, 0, 0, 0)


def tar_gz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, DATE), data)
    return out.getvalue()


def wheel(name: str, version: str, files: dict[str, bytes]) -> tuple[str, bytes]:
    dist = f"{name}-{version}.dist-info"
    meta = {
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    everything = {**files, **meta}
    record = []
    for path, data in everything.items():
        digest = base64.urlsafe_b64encode(bytes.fromhex(sha256(data))).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    everything[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    return f"{name}-{version}-py3-none-any.whl", zip_bytes(everything)


def recipe(kind: str, name: str, install: str, extra: str = "") -> str:
    return (
        f"name: {name}\nkind: {kind}\nversions: ['1.0']\ntask: stand-in\n{extra}install:\n{install}"
    )


def test_every_artifact_kind_through_a_local_mirror(tmp_path: Path, upstream: Upstream) -> None:
    model_url = upstream.add("models/standin.onnx", MODEL)
    tar = tar_gz({"standin-1.0/data/labels.txt": LABELS, "standin-1.0/data/img.bin": IMAGE})
    tar_url = upstream.add("data/standin-1.0.tar.gz", tar)
    zipped = zip_bytes({"ann/instances.json": ANNOTATIONS, "ann/readme.txt": b"x\n"})
    zip_url = upstream.add("data/annotations.zip", zipped)
    whl_name, whl = wheel("standin_data", "1.0", {"standin_data/data/table.csv": TABLE})
    index_url = upstream.add_wheel_index("standin-data", whl_name, whl)

    project = tmp_path / "proj"
    r = project / "recipes"
    for folder in ("models", "datasets"):
        (r / folder).mkdir(parents=True)
    (project / "mlenv.yaml").write_text(
        "name: kinds\nrecipes: [./recipes]\n"
        "requires: [standin-model, standin-tar, standin-zip, standin-wheel]\n"
    )
    (r / "models" / "standin-model.yaml").write_text(
        recipe(
            "model",
            "standin-model",
            f"  - artifact: {{url: '{model_url}', sha256: {sha256(MODEL)}, size: {len(MODEL)}}}\n",
            "format: onnx\n",
        )
    )
    (r / "datasets" / "standin-tar.yaml").write_text(
        recipe(
            "dataset",
            "standin-tar",
            f"  - artifact: {{url: '{tar_url}', sha256: {sha256(tar)}, extract: tar, strip: 1,"
            " path: data/labels.txt}\n",
        )
    )
    (r / "datasets" / "standin-zip.yaml").write_text(
        recipe(
            "dataset",
            "standin-zip",
            f"  - artifact: {{url: '{zip_url}', sha256: {sha256(zipped)}, extract: zip,"
            " path: ann/instances.json}\n",
        )
    )
    (r / "datasets" / "standin-wheel.yaml").write_text(
        recipe(
            "dataset",
            "standin-wheel",
            "  - wheel-file: {requirement: 'standin-data==1.0', path: standin_data/data/table.csv,"
            f" sha256: {sha256(TABLE)}}}\n",
        )
    )
    env = {"MLENV_MIRROR": upstream.mirror, "MLENV_PYPI_INDEX_URL": index_url}
    home = tmp_path / "home"
    resolved = run_mlenv(project, home, "resolve", env=env)
    assert resolved.returncode == 0, explain(resolved)
    lock = (project / "mlenv.lock").read_text()
    assert "https://upstream.example/models/standin.onnx" in lock  # the lock keeps upstream URLs
    assert "127.0.0.1" not in lock.replace(index_url, "").replace(upstream.base + "wheels/", "")

    installed = run_mlenv(project, home, "install", env=env)
    assert installed.returncode == 0, explain(installed)
    envs = list((project / ".mlenv" / "envs").iterdir())
    assert len(envs) == 1
    arts = envs[0] / "artifacts"
    assert (arts / "standin-model" / "standin.onnx").read_bytes() == MODEL
    tree = arts / "standin-tar" / "standin-1.0.tar.gz"
    assert (tree / "data" / "labels.txt").read_bytes() == LABELS  # strip: 1 dropped the top folder
    assert (tree / "data" / "img.bin").read_bytes() == IMAGE
    ztree = arts / "standin-zip" / "annotations.zip"
    assert (ztree / "ann" / "instances.json").read_bytes() == ANNOTATIONS
    assert (arts / "standin-wheel" / "table.csv").read_bytes() == TABLE
    # every download went through the mirror (upstream.example itself is never reached)
    for path in ("models/standin.onnx", "data/standin-1.0.tar.gz", "data/annotations.zip"):
        assert path in upstream.requests, upstream.requests

    verified = run_mlenv(project, home, "verify", env=env)
    assert verified.returncode == 0, explain(verified)


def test_a_tampered_download_is_refused(tmp_path: Path, upstream: Upstream) -> None:
    url = upstream.add("models/standin.onnx", MODEL[:-1] + b"!")
    project = tmp_path / "proj"
    (project / "recipes" / "models").mkdir(parents=True)
    (project / "mlenv.yaml").write_text(
        "name: t\nrecipes: [./recipes]\nrequires: [standin-model]\n"
    )
    (project / "recipes" / "models" / "standin-model.yaml").write_text(
        recipe(
            "model", "standin-model", f"  - artifact: {{url: '{url}', sha256: {sha256(MODEL)}}}\n"
        )
    )
    env = {"MLENV_MIRROR": upstream.mirror}
    home = tmp_path / "home"
    assert run_mlenv(project, home, "resolve", env=env).returncode == 0
    installed = run_mlenv(project, home, "install", env=env)
    assert installed.returncode == 1, explain(installed)
    assert "sha256" in installed.stderr and "Traceback" not in installed.stderr
