"""mlenv: declarative, lock-file based environments and runs for ML benchmarks.

The Python API (CONTRACTS §10)::

    import mlenv
    project = mlenv.Project.open("examples/digits")
    lock = project.resolve()
    env = project.install()
    results = project.run(scenarios=["Offline"], modes=["performance"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import MlenvError

__version__ = "0.1.0"
__all__ = ["MlenvError", "Project", "__version__"]

if TYPE_CHECKING:
    from .ops.project import Project


def __getattr__(name: str) -> Any:  # `import mlenv` stays light: the ops load on first use
    if name == "Project":
        from .ops.project import Project

        return Project
    raise AttributeError(f"module 'mlenv' has no attribute {name!r}")
