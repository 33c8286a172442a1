"""A project `mlenv run` can measure offline: the `null` backend (zeros, no model) on a small
digits-format table shipped beside its recipe, in an environment whose one wheel (`hostsite`)
holds a .pth file pointing at the numpy and LoadGen of the Python running the tests (nothing is
downloaded; the wheel is served from 127.0.0.1). Needs `mlperf_loadgen` importable."""

from __future__ import annotations

import gzip
from pathlib import Path

import localpypi as H

SAMPLES = 64
# Offline/Server settings that end in well under a second whatever the backend
FAST = ["--set", "min_duration=100", "--set", "min_query_count=16", "--set", "target_qps=500"]
MODEL = b"no model: the null backend returns zeros\n"


def digits_table() -> bytes:
    rows = [
        ",".join([str((i * 7 + j) % 17) for j in range(64)] + [str(i % 10)]) for i in range(SAMPLES)
    ]
    return gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0)


def hostsite_wheels(folder: Path) -> H.Wheels:
    import numpy

    site = Path(numpy.__file__).resolve().parents[1]
    pth = {"hostsite.pth": f"{site}\n".encode()}
    return H.Wheels(folder=folder, all=(H.build_wheel(folder, "hostsite", "1.0", files=pth),))


def write_runnable(root: Path, home: Path, server: H.LocalServer) -> H.Project:
    """The project (manifest and recipes); `server` must serve `hostsite_wheels`."""
    project = H.write_project(root, home, server, requires=())
    table = digits_table()
    (project.recipes / "datasets").mkdir(parents=True, exist_ok=True)
    (project.recipes / "datasets" / "table.csv.gz").write_bytes(table)
    (project.recipes / "models" / "zeros.bin").write_bytes(MODEL)
    project.write(
        "mlenv.yaml",
        """
        name: nullrun
        recipes: [./recipes]
        targets: [host]
        requires: ["null", zeromodel, smalldigits]
        benchmark: {model: zeromodel, dataset: smalldigits, backend: "null"}
        """,
    )
    for kind, name, summary in (
        ("frameworks", "null", "no framework; numpy and LoadGen of the test's own Python"),
        ("tools", "mlperf-loadgen", "the LoadGen of the test's own Python (through hostsite)"),
    ):
        version = "6.0.17" if name == "mlperf-loadgen" else "1.0"
        project.write(
            f"recipes/{kind}/{name}.yaml",
            f"""
            name: "{name}"
            kind: {kind[:-1]}
            summary: {summary}
            versions: ["{version}"]
            install:
              - pypi: ["hostsite==1.0"]
            """,
        )
    project.write(
        "recipes/models/zeromodel.yaml",
        f"""
        name: zeromodel
        kind: model
        summary: nothing to load
        versions: ["1.0"]
        format: onnx
        inputs: [{{name: input, shape: [-1, 64], dtype: float32}}]
        outputs: [{{name: logits, shape: [-1, 10], dtype: float32}}]
        install:
          - artifact: {{url: zeros.bin, sha256: {H.sha256(MODEL)}, size: {len(MODEL)}}}
        """,
    )
    project.write(
        "recipes/datasets/smalldigits.yaml",
        f"""
        name: smalldigits
        kind: dataset
        summary: a digits-format table
        versions: ["1.0"]
        samples: {SAMPLES}
        performance-sample-count: {SAMPLES}
        preprocess: {{name: digits, scale: 16}}
        metric: top1
        install:
          - artifact: {{url: table.csv.gz, sha256: {H.sha256(table)}, size: {len(table)}}}
        """,
    )
    return project
