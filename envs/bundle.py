"""Offline bundles (`mlenv pack` / `mlenv reproduce`): one tar with a lock, the recipes it used,
every file it pins (taken from the store by sha256) and the results to reproduce.

Layout inside the archive (plain files only, sorted, mtime 0, owner 0):

    bundle.json                      what is inside: each file with its sha256, size and role
    project/mlenv.yaml, mlenv.lock   the manifest and the lock
    project/<recipes>/…              recipes of the lock from the manifest's recipe folders
    project/results/…                result.json files and LoadGen summaries
    builtin/<kind>s/<name>.yaml      built-in recipes of the lock (`builtin:` labels)
    recorded/env.json                the environment the results were measured in
    wheels/, conda/<subdir>/, artifacts/<package>/   the store objects of the lock section
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from mlenv.errors import FormatError, IntegrityError, Problem
from mlenv.lock import LockTarget
from mlenv.paths import BUILTIN_PREFIX

from .artifacts import ArtifactContext, source_of
from .conda import pin_filename, source_url
from .download import fetch_to_store
from .store import CHUNK, Store, sha256_file

BUNDLE_FILE = "bundle.json"
BUNDLE_VERSION = 1
PROJECT = "project"
BUILTIN = "builtin"
RECORDED_ENV = "recorded/env.json"
ROLES = ("manifest", "lock", "recipe", "result", "log", "env", "wheel", "conda", "artifact")
STORE_ROLES = ("wheel", "conda", "artifact")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NEVER_REPAIR = "a bundle is never edited: get a fresh copy from its author (or `mlenv pack` again)"


@dataclass(frozen=True, kw_only=True)
class BundleFile:
    path: str  # POSIX path inside the bundle
    sha256: str
    size: int
    role: str
    md5: str | None = None  # for artifacts a recipe pins by md5 only

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "role": self.role,
            "sha256": self.sha256,
            "size": self.size,
        }
        if self.md5:
            out["md5"] = self.md5
        return out


@dataclass(frozen=True, kw_only=True)
class BundleManifest:
    name: str  # the manifest's name
    target: str  # the lock section packed
    lock: str  # that section's digest (what result.json and env.json record)
    mlenv: str  # the mlenv version that packed it
    files: tuple[BundleFile, ...]
    local: tuple[str, ...] = ()  # variables naming user-supplied data that is not inside
    version: int = BUNDLE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "kind": "mlenv-bundle",
            "name": self.name,
            "target": self.target,
            "lock": self.lock,
            "mlenv": self.mlenv,
            "local": list(self.local),
            "files": [f.to_dict() for f in sorted(self.files, key=lambda f: f.path)],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    def of_role(self, *roles: str) -> list[BundleFile]:
        return [f for f in self.files if f.role in roles]

    @classmethod
    def from_dict(cls, data: Any, label: str) -> BundleManifest:
        problems: list[Problem] = []

        def bad(where: str, message: str) -> None:
            problems.append(Problem(where=f"{label}: {where}", message=message))

        if not isinstance(data, dict) or data.get("kind") != "mlenv-bundle":
            raise IntegrityError(f"{label} does not describe an mlenv bundle", hint=_NEVER_REPAIR)
        if data.get("version") != BUNDLE_VERSION:
            raise IntegrityError(
                f"{label} is bundle version {data.get('version')!r}; this mlenv reads version "
                f"{BUNDLE_VERSION}",
                hint="use the mlenv version that packed it (see `mlenv` in bundle.json)",
            )
        known = {"version", "kind", "name", "target", "lock", "mlenv", "local", "files"}
        for key in sorted(set(data) - known):
            bad(key, "unknown key")
        files = []
        for i, raw in enumerate(data.get("files") or []):
            where = f"files[{i}]"
            if not isinstance(raw, dict) or set(raw) - {"path", "role", "sha256", "size", "md5"}:
                bad(where, "expected {path, role, sha256, size[, md5]}")
                continue
            path, sha, role = str(raw.get("path", "")), str(raw.get("sha256", "")), raw.get("role")
            if not safe_member(path):
                bad(where, f"unsafe path {path!r}")
            if not _SHA256.fullmatch(sha):
                bad(where, f"invalid sha256 {sha!r}")
            if role not in ROLES:
                bad(where, f"unknown role {role!r}")
            size = raw.get("size")
            files.append(
                BundleFile(
                    path=path,
                    sha256=sha,
                    size=size if isinstance(size, int) else -1,
                    role=str(role),
                    md5=raw.get("md5"),
                )
            )
        if problems:
            raise FormatError(f"{label} is not a valid bundle description", problems=problems)
        return cls(
            name=str(data.get("name", "")),
            target=str(data.get("target", "")),
            lock=str(data.get("lock", "")),
            mlenv=str(data.get("mlenv", "")),
            files=tuple(files),
            local=tuple(str(v) for v in data.get("local") or ()),
        )


def safe_member(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and ".." not in parts and "\\" not in path


def recipe_member(label: str) -> str | None:
    """Where the recipe file with this lock label lives inside a bundle (None: cannot be packed)."""
    if label.startswith(BUILTIN_PREFIX):
        rel = label[len(BUILTIN_PREFIX) :]
        member = f"{BUILTIN}/{rel}"
    else:
        member = f"{PROJECT}/{label.removeprefix('./')}"
    return member if safe_member(member) else None


# -- packing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Member:
    path: str
    source: Path
    role: str
    md5: str | None = None


def store_members(section: LockTarget, ctx: ArtifactContext) -> list[Member]:
    """Every file the section pins, in the store (fetched there first when missing), once each."""
    by_sha: dict[str, Member] = {}

    def add(path: str, source: Path, sha: str, role: str, md5: str | None = None) -> None:
        by_sha.setdefault(sha, Member(path=path, source=source, role=role, md5=md5))

    opts, store, rep = ctx.options, ctx.store, ctx.reporter
    for pin in section.pypi:
        obj, sha = fetch_to_store(
            store, pin.url, sha256=pin.sha256, label=pin.filename, options=opts, reporter=rep
        )
        add(f"wheels/{pin.filename}", obj, sha, "wheel")
    for c in section.conda:
        name = pin_filename(c)
        url = source_url(c.url, ctx.project_dir)
        obj, sha = fetch_to_store(
            store, url, sha256=c.sha256, label=name, options=opts, reporter=rep
        )
        add(f"conda/{c.subdir}/{name}", obj, sha, "conda")
    for a in section.artifacts:
        if a.local_env:
            continue
        label = f"artifact {a.name} of {a.package}"
        obj, sha = fetch_to_store(
            store,
            source_of(a, ctx),
            sha256=a.sha256,
            md5=a.md5,
            label=label,
            options=opts,
            reporter=rep,
        )
        name = (a.url or a.name).rsplit("/", 1)[-1].split("#", 1)[0] if a.member else a.name
        add(f"artifacts/{a.package}/{name}", obj, sha, "artifact", None if a.sha256 else a.md5)
    return sorted(by_sha.values(), key=lambda m: m.path)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_bundle(
    out: Path,
    *,
    name: str,
    section: LockTarget,
    mlenv_version: str,
    members: Iterable[Member],
    local: Iterable[str] = (),
) -> BundleManifest:
    """Write the archive atomically (`.tar`, or gzip with mtime 0 for `.tar.gz`/`.tgz`)."""
    members = sorted(members, key=lambda m: m.path)
    paths = [m.path for m in members]
    if len(set(paths)) != len(paths) or not all(safe_member(p) for p in paths):
        raise ValueError(f"duplicate or unsafe bundle paths: {paths}")
    files = tuple(
        BundleFile(
            path=m.path,
            sha256=sha256_file(m.source),
            size=m.source.stat().st_size,
            role=m.role,
            md5=m.md5,
        )
        for m in members
    )
    manifest = BundleManifest(
        name=name,
        target=section.name,
        lock=section.digest(),
        mlenv=mlenv_version,
        files=files,
        local=tuple(sorted(set(local))),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as raw:
            gz = out.name.endswith((".tar.gz", ".tgz"))
            stream = cast(
                IO[bytes],
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if gz else raw,
            )
            with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
                head = manifest.dumps().encode()
                tar.addfile(_info(BUNDLE_FILE, len(head)), io.BytesIO(head))
                for m, f in zip(members, files, strict=True):
                    with m.source.open("rb") as src:
                        tar.addfile(_info(m.path, f.size), src)
            if gz:
                stream.close()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return manifest


# -- unpacking, verifying, seeding ----------------------------------------------------------------


def unpack_bundle(archive: Path, dest: Path) -> None:
    """Extract plain files only, refusing links, devices and paths that leave `dest`."""
    hint = f"is {archive} the file `mlenv pack` wrote? {_NEVER_REPAIR}"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isfile() or not safe_member(member.name):
                    raise IntegrityError(
                        f"{archive} holds {member.name!r}, which a bundle never holds",
                        why="bundles hold plain files at relative paths only (no links, no `..`)",
                        hint=hint,
                    )
                target = dest.joinpath(*PurePosixPath(member.name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has data
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise IntegrityError(
            f"{archive} is not a readable mlenv bundle (damaged, or not a tar archive)",
            why=str(e),
            hint=hint,
        ) from e


def read_manifest(root: Path) -> BundleManifest:
    path = root / BUNDLE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise IntegrityError(
            f"{root} is not an mlenv bundle: it has no {BUNDLE_FILE}",
            hint="pass the .tar file `mlenv pack` wrote, or the folder it was unpacked into",
        ) from e
    except (OSError, ValueError) as e:
        raise IntegrityError(f"{path} is unreadable", why=str(e), hint=_NEVER_REPAIR) from e
    return BundleManifest.from_dict(data, str(path))


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def verify_bundle(root: Path, label: str | None = None) -> BundleManifest:
    """Every listed file present with its sha256, and nothing unlisted; else IntegrityError
    naming each file with the expected and the actual sha256 (`label`: the bundle's name)."""
    manifest = read_manifest(root)
    problems, details = [], []
    for f in manifest.files:
        path = root / f.path
        if not path.is_file():
            problems.append(Problem(where=f.path, message="missing from the bundle"))
            details.append({"path": f.path, "expected": f.sha256, "actual": None})
            continue
        actual = sha256_file(path)
        if actual != f.sha256:
            problems.append(
                Problem(where=f.path, message=f"expected sha256 {f.sha256}\ngot sha256 {actual}")
            )
            details.append({"path": f.path, "expected": f.sha256, "actual": actual})
    listed = {f.path for f in manifest.files} | {BUNDLE_FILE}
    for extra in (p for p in _all_files(root) if p not in listed):
        problems.append(Problem(where=extra, message=f"not listed in {BUNDLE_FILE}"))
        details.append({"path": extra, "expected": None, "actual": "unlisted"})
    if problems:
        first = details[0]
        raise IntegrityError(
            f"the bundle failed verification: {len(problems)} file(s) differ from {BUNDLE_FILE} "
            f"(first: {first['path']})",
            where=label or str(root),
            problems=problems,
            why="the bundle was changed or damaged after `mlenv pack` wrote it; nothing from it "
            "was installed",
            hint=_NEVER_REPAIR,
            details={"files": details},
        )
    return manifest


def missing_from(manifest: BundleManifest, section: LockTarget) -> list[str]:
    """What the lock section needs that the bundle does not hold (empty: complete)."""
    shas = {f.sha256 for f in manifest.of_role(*STORE_ROLES)}
    md5s = {f.md5 for f in manifest.of_role("artifact") if f.md5}
    recipes = {f.path: f.sha256 for f in manifest.of_role("recipe")}
    out = [f"wheel {p.filename} (sha256 {p.sha256})" for p in section.pypi if p.sha256 not in shas]
    out += [f"conda package {c.name} {c.version}" for c in section.conda if c.sha256 not in shas]
    for a in section.artifacts:
        if a.local_env:
            continue
        if (a.sha256 and a.sha256 not in shas) or (not a.sha256 and a.md5 not in md5s):
            out.append(f"artifact {a.name} of {a.package}")
    for name, pkg in sorted(section.packages.items()):
        member = recipe_member(pkg.file) if pkg.file else None
        if member is None or f"sha256:{recipes.get(member)}" != pkg.recipe:
            out.append(f"recipe of {name} ({pkg.file or 'no file label'})")
    return out


def seed_store(root: Path, manifest: BundleManifest, store: Store) -> int:
    """Put every store object of the bundle into `store` (hash-checked again); returns how many."""
    count = 0
    for f in manifest.of_role(*STORE_ROLES):
        with store.lock(f.sha256):
            if not store.has(f.sha256):
                store.add(root / f.path, f.sha256, f.path)
                count += 1
        if f.md5:
            store.remember_md5(f.md5, f.sha256)
    return count
