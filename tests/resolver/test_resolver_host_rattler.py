"""Host detection through py-rattler: conda's overrides, MLENV_HOST_* on top, the microarch
itself (with archspec's ancestry) in `when:` conditions, and no subprocess on the way."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from mlenv.conditions import _microarch_at_least
from mlenv.errors import UsageError
from mlenv.host import detect_host
from mlenv.requirement import parse_requirement
from mlenv.resolver.solve import solve

# (environ, the facts it must give: None = absent)
ENV_CASES: list[tuple[dict[str, str], dict[str, str | None]]] = [
    ({"CONDA_OVERRIDE_CUDA": "12.4"}, {"accelerator": "cuda", "cuda": "12.4"}),
    ({"CONDA_OVERRIDE_CUDA": ""}, {"accelerator": "none", "cuda": None}),
    ({"CONDA_OVERRIDE_CUDA": "12.4", "MLENV_HOST_CUDA": "none"}, {"accelerator": "none"}),
    ({"CONDA_OVERRIDE_CUDA": "12.4", "MLENV_HOST_CUDA": "11.8"}, {"cuda": "11.8"}),
    ({"CONDA_OVERRIDE_CUDA": "", "MLENV_HOST_CUDA": "12.1"}, {"cuda": "12.1"}),
    ({"CONDA_OVERRIDE_GLIBC": "2.28"}, {"glibc": "2.28", "pypi": "x86_64-manylinux_2_28"}),
    ({"CONDA_OVERRIDE_GLIBC": "2.28", "MLENV_HOST_GLIBC": "2.31"}, {"glibc": "2.31"}),
    ({"CONDA_OVERRIDE_ARCHSPEC": "zen4"}, {"microarch": "zen4"}),
    (
        {"CONDA_OVERRIDE_ARCHSPEC": "zen4", "MLENV_HOST_MICROARCH": "haswell"},
        {"microarch": "haswell"},
    ),
]
LINUX_X86 = {"MLENV_HOST_OS": "linux", "MLENV_HOST_ARCH": "x86_64"}


def _facts(env: dict[str, str]) -> dict[str, str | None]:
    host = detect_host(env)
    return {
        "accelerator": host.accelerator.kind,
        "cuda": host.accelerator.cuda,
        "glibc": host.glibc,
        "microarch": host.microarch,
        "pypi": host.pypi_platform,
    }


@pytest.mark.parametrize(("env", "expected"), ENV_CASES, ids=lambda v: str(v))
def test_conda_overrides_and_mlenv_host_on_top(
    env: dict[str, str], expected: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the process environment must not matter: only the mapping passed in counts
    for name in ("CONDA_OVERRIDE_CUDA", "CONDA_OVERRIDE_GLIBC", "CONDA_OVERRIDE_ARCHSPEC"):
        monkeypatch.setenv(name, "9.9" if name.endswith("CUDA") else "2.99")
    monkeypatch.setenv("CONDA_OVERRIDE_ARCHSPEC", "x86_64")
    facts = _facts({**LINUX_X86, **env})
    for key, value in expected.items():
        assert facts[key] == value, key


def test_a_cpu_host_with_conda_override_cuda_has_a_cuda_name() -> None:
    assert detect_host({**LINUX_X86, "CONDA_OVERRIDE_CUDA": "12.4"}).name == "linux-x86_64-cuda12"
    assert detect_host({**LINUX_X86, "CONDA_OVERRIDE_CUDA": ""}).name == "linux-x86_64-cpu"


def test_detection_runs_no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"host detection started a subprocess: {args}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    assert detect_host({}).is_host


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONDA_OVERRIDE_CUDA", "twelve"),
        ("CONDA_OVERRIDE_GLIBC", "2"),
        ("CONDA_OVERRIDE_ARCHSPEC", "Zen 4"),
    ],
)
def test_a_malformed_conda_override_is_a_usage_error(name: str, value: str) -> None:
    with pytest.raises(UsageError) as info:
        detect_host({name: value})
    assert info.value.where == name and info.value.hint


# (the target's microarch, the condition's microarch, holds): that uarch or a descendant
MICROARCH_CASES = [
    ("zen4", "zen4", True),
    ("zen4", "zen2", True),
    ("zen4", "x86_64_v4", True),
    ("zen4", "x86_64_v3", True),
    ("zen4", "skylake_avx512", False),
    ("zen2", "zen4", False),
    ("skylake_avx512", "skylake", True),
    ("skylake_avx512", "haswell", True),
    ("skylake_avx512", "x86_64_v4", True),
    ("skylake_avx512", "icelake", False),
    ("cascadelake", "skylake_avx512", True),
    ("haswell", "x86_64_v4", False),
    ("neoverse_v2", "neoverse_n1", True),
    ("neoverse_v2", "x86_64", False),
    ("not-a-cpu", "x86_64", False),
]


@pytest.mark.parametrize(("actual", "wanted", "holds"), MICROARCH_CASES)
def test_microarch_matches_itself_and_its_ancestors(actual: str, wanted: str, holds: bool) -> None:
    assert _microarch_at_least(actual, wanted) is holds


INDEX = {
    "frameworks": [
        {
            "name": "torch",
            "versions": ["2.5"],
            "requires": [
                {"require": "cuda-runtime >=12,<13", "when": {"cuda": ">=12"}},
                {"require": "avx512-kernels", "when": {"microarch": "skylake_avx512"}},
                {"require": "zen-kernels", "when": {"microarch": "zen3"}},
            ],
        }
    ],
    "runtimes": [{"name": "cuda-runtime", "versions": ["11.8", "12.4", "12.6"]}],
    "tools": [
        {"name": "avx512-kernels", "versions": ["1"]},
        {"name": "zen-kernels", "versions": ["1"]},
    ],
}


def _locked(env: dict[str, str], make_index: Any) -> dict[str, str]:
    host = detect_host({**LINUX_X86, **env})
    facts = {k: str(v) for k, v in host.facts().items() if isinstance(v, str)}
    solution = solve(make_index(INDEX), [parse_requirement("torch")], facts, target_name=host.name)
    return {name: str(c.version) for name, c in solution.packages.items()}


def test_conda_override_cuda_makes_a_cpu_host_lock_the_cuda_variants(make_index: Any) -> None:
    base = {"CONDA_OVERRIDE_ARCHSPEC": "x86_64"}
    assert _locked({**base, "CONDA_OVERRIDE_CUDA": ""}, make_index) == {"torch": "2.5"}
    cuda = _locked({**base, "CONDA_OVERRIDE_CUDA": "12.4"}, make_index)
    assert cuda == {"torch": "2.5", "cuda-runtime": "12.6"}
    assert _locked(
        {**base, "CONDA_OVERRIDE_CUDA": "12.4", "MLENV_HOST_CUDA": "none"}, make_index
    ) == {"torch": "2.5"}


@pytest.mark.parametrize(
    ("archspec", "kernels"),
    [("zen4", "zen-kernels"), ("cascadelake", "avx512-kernels"), ("haswell", None)],
)
def test_the_detected_microarch_itself_meets_when_conditions(
    archspec: str, kernels: str | None, make_index: Any
) -> None:
    locked = _locked({"CONDA_OVERRIDE_CUDA": "", "CONDA_OVERRIDE_ARCHSPEC": archspec}, make_index)
    assert set(locked) == {"torch", *([kernels] if kernels else [])}
