"""Hardware targets (CONTRACTS §3): a YAML file under `targets/`, or the detected host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .keyspec import Key, Shape, any_of, mapping, string
from .names import COMPONENT_RE, component_problem
from .yamlio import Problems, Section, read_yaml

OS_VALUES = ("linux", "darwin", "windows")
PYTHON_RE = re.compile(r"[0-9]{1,2}\.[0-9]{1,3}")
LIBC = Shape(
    title="libc",
    description="the C library and its version",
    keys=(
        Key("glibc", string(), "the glibc version, e.g. '2.28'"),
        Key("musl", string(), "the musl version"),
    ),
)
ACCELERATOR = Shape(
    title="accelerator",
    description="the target's accelerator",
    keys=(
        Key("kind", string(), "none, cuda, rocm, …", required=True),
        Key("cuda", string(), "the driver's CUDA version, e.g. '12.4' (needed for cuda)"),
        Key("compute-capability", string(), "the GPU's compute capability, e.g. '9.0'"),
    ),
    rules=(
        {
            "if": {"properties": {"kind": {"const": "cuda"}}},
            "then": {"required": ["cuda"]},
        },
    ),
)
TARGET = Shape(
    title="target",
    description="an mlenv hardware target, `recipes/targets/<name>.yaml`: the facts a lock "
    "section is solved for",
    keys=(
        Key("name", string(pattern=COMPONENT_RE), "the target's name", required=True),
        Key("os", string(enum=OS_VALUES), "the operating system", required=True),
        Key("arch", string(), "the CPU architecture (x86_64, aarch64, arm64)", required=True),
        Key("microarch", string(), "the archspec microarchitecture, e.g. x86_64_v3"),
        Key("libc", LIBC, "the C library"),
        Key(
            "python",
            string(pattern=PYTHON_RE),
            "the interpreter's MAJOR.MINOR, e.g. '3.11'",
            required=True,
        ),
        Key(
            "accelerator",
            any_of(string(enum=("none",)), ACCELERATOR),
            "the accelerator, or 'none'",
        ),
        Key("pypi-platform", string(), "uv's --python-platform, e.g. x86_64-manylinux_2_28"),
        Key("conda-platform", string(), "the conda subdir, e.g. linux-64"),
        Key(
            "tools",
            mapping(string()),
            "system tools this target declares, by name: their versions",
        ),
    ),
)
TARGET_KEYS = TARGET.names


@dataclass(frozen=True, kw_only=True)
class Accelerator:
    kind: str = "none"
    cuda: str | None = None
    compute_capability: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.cuda:
            out["cuda"] = self.cuda
        if self.compute_capability:
            out["compute-capability"] = self.compute_capability
        return out


@dataclass(frozen=True, kw_only=True)
class Target:
    name: str
    os: str
    arch: str
    python: str
    microarch: str | None = None
    libc: tuple[tuple[str, str], ...] = ()
    accelerator: Accelerator = Accelerator()
    pypi_platform: str | None = None
    conda_platform: str | None = None
    tools: tuple[tuple[str, str], ...] = ()  # declared system tools (name, version) for non-host
    is_host: bool = False

    @property
    def glibc(self) -> str | None:
        return dict(self.libc).get("glibc")

    def facts(self) -> dict[str, Any]:
        """The facts recorded in the lock and matched by `when:` conditions."""
        out: dict[str, Any] = {
            "os": self.os,
            "arch": self.arch,
            "python": self.python,
            "accelerator": self.accelerator.kind,
        }
        if self.microarch:
            out["microarch"] = self.microarch
        if self.libc:
            out["libc"] = dict(self.libc)
        if self.accelerator.cuda:
            out["cuda"] = self.accelerator.cuda
        if self.accelerator.compute_capability:
            out["compute-capability"] = self.accelerator.compute_capability
        if self.pypi_platform:
            out["pypi-platform"] = self.pypi_platform
        if self.conda_platform:
            out["conda-platform"] = self.conda_platform
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **self.facts()}
        out["accelerator"] = self.accelerator.to_dict()
        out.pop("cuda", None)
        out.pop("compute-capability", None)
        if self.tools:
            out["tools"] = dict(self.tools)
        return out

    @classmethod
    def from_dict(cls, data: Any, problems: Problems, *, is_host: bool = False) -> Target:
        s = Section(data, "", problems, TARGET.names)
        name = s.str("name", required=True) or "?"
        if s.has("name") and (problem := component_problem(name)):
            problems.add(s.at("name"), f"invalid target name: {problem}")
        os_ = s.str("os", required=True) or "linux"
        if os_ not in OS_VALUES:
            problems.add(s.at("os"), f"unknown os {os_!r} (one of {', '.join(OS_VALUES)})")
        arch = s.str("arch", required=True) or "x86_64"
        python = s.str("python", required=True) or "3.0"
        if s.has("python") and not PYTHON_RE.fullmatch(python):
            problems.add(s.at("python"), f"python {python!r} must be MAJOR.MINOR, e.g. '3.11'")
        libc = Section(s.mapping("libc"), s.at("libc"), problems, LIBC.names)
        libc_items = tuple((k, v) for k in LIBC.names if (v := libc.str(k)) is not None)
        acc_raw = s.raw("accelerator")
        if acc_raw is None or acc_raw == "none":
            accelerator = Accelerator()
        else:
            a = Section(acc_raw, s.at("accelerator"), problems, ACCELERATOR.names)
            kind = a.str("kind", required=True) or "none"
            accelerator = Accelerator(
                kind=kind, cuda=a.str("cuda"), compute_capability=a.str("compute-capability")
            )
            if kind == "cuda" and not accelerator.cuda:
                problems.add(a.at("cuda"), "a cuda accelerator needs its CUDA version, e.g. '12.4'")
        tools = s.mapping("tools")
        return cls(
            name=name,
            os=os_,
            arch=arch,
            python=python,
            microarch=s.str("microarch"),
            libc=libc_items,
            accelerator=accelerator,
            pypi_platform=s.str("pypi-platform"),
            conda_platform=s.str("conda-platform"),
            tools=tuple(sorted((str(k), str(v)) for k, v in tools.items())),
            is_host=is_host,
        )


def load_target(path: Path, label: str | None = None) -> Target:
    data, text = read_yaml(path, label)
    problems = Problems(label or str(path), text)
    target = Target.from_dict(data, problems)
    problems.raise_if_any("target file", hint="see CONTRACTS §3 for the target format")
    return target
