"""verify: every difference between a project's environment (and the store) and its lock."""

from __future__ import annotations

from dataclasses import dataclass

from mlenv.envs.materialize import verify_env
from mlenv.envs.store import Store
from mlenv.errors import InstallError
from mlenv.lock import LockTarget
from mlenv.paths import project_env_dir

from .install import system_detects
from .project import Project


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    section: LockTarget
    differences: tuple[str, ...]  # empty: the environment matches the lock

    @property
    def ok(self) -> bool:
        return not self.differences

    def error(self) -> InstallError:
        """The diagnostic for a drifted environment (every difference in `why`)."""
        n = len(self.differences)
        return InstallError(
            f"the environment of {self.section.name} differs from the lock in {n} place(s)",
            why="\n".join(self.differences),
            hint="run `mlenv install --force` to rebuild it from the lock",
            details={"target": self.section.name, "differences": list(self.differences)},
        )

    def to_dict(self) -> dict[str, object]:
        return {"target": self.section.name, "differences": list(self.differences)}


def verify(project: Project, target: str | None = None) -> VerifyResult:
    """Check the environment of `target` (default: this machine's lock section) against the
    lock: packages, records, conda prefix, placed artifacts (the store names the changed files
    of an extracted archive) and system tools, re-detected with the user's own recipes (never
    the lock's)."""
    section = project.lock_section(project.lock(), target)
    differences = verify_env(
        section,
        project_env_dir(project.project_dir, section.name),
        project.environ.get("PATH"),
        Store(project.home),
        system_detects(project, section),
    )
    return VerifyResult(section=section, differences=tuple(differences))
