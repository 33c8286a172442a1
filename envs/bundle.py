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
import itertools
import json
import os
import re
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from mlenv.errors import FormatError, IntegrityError, Problem
from mlenv.lock import LockTarget
from mlenv.names import DIGEST_RE, component_problem, hex_problem, relpath_problem, within
from mlenv.paths import BUILTIN_PREFIX

from .artifacts import ArtifactContext, is_folder, source_of
from .conda import pin_filename, source_url
from .download import fetch_to_store
from .store import Store, sha256_file

BUNDLE_FILE = "bundle.json"
BUNDLE_VERSION = 1
PROJECT = "project"
BUILTIN = "builtin"
RECORDED_ENV = "recorded/env.json"
ROLES = ("manifest", "lock", "recipe", "result", "log", "env", "wheel", "conda", "artifact")
STORE_ROLES = ("wheel", "conda", "artifact")
MAX_MANIFEST = 16 << 20  # bundle.json is read whole: at most 16 MiB
MAX_TOTAL = 256 << 30  # the declared files of one bundle add up to at most 256 GiB
MAX_FILES = 100_000
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

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def from_dict(cls, data: Any, label: str) -> BundleManifest:
        """A strictly checked description: every name, path, hash and size is validated
        (problems name the dotted field: `files[3].sha256`), nothing is trusted."""
        if not isinstance(data, dict) or data.get("kind") != "mlenv-bundle":
            raise IntegrityError(f"{label} does not describe an mlenv bundle", hint=_NEVER_REPAIR)
        version = data.get("version")
        if type(version) is not int or version != BUNDLE_VERSION:
            raise IntegrityError(
                f"{label} is bundle version {version!r}; this mlenv reads version {BUNDLE_VERSION}",
                hint="use the mlenv version that packed it (see `mlenv` in bundle.json)",
            )
        problems: list[Problem] = []

        def bad(where: str, message: str) -> None:
            problems.append(Problem(where=f"{label}: {where}", message=message))

        for key in sorted(set(data) - _TOP_KEYS, key=str):
            bad(str(key), "unknown key")
        for key in ("name", "mlenv"):
            if not isinstance(data.get(key, ""), str):
                bad(key, "expected a string")
        if problem := component_problem(data.get("target")):
            bad("target", problem)
        if not isinstance(data.get("lock"), str) or not DIGEST_RE.fullmatch(data["lock"]):
            bad("lock", f"{data.get('lock')!r} is not a digest (sha256:<64 hex digits>)")
        local = data.get("local") or []
        if not isinstance(local, list):
            bad("local", "expected a list of variable names")
            local = []
        for i, var in enumerate(local):
            if not isinstance(var, str) or not _VARIABLE.fullmatch(var):
                bad(f"local[{i}]", f"{var!r} is not an environment variable name")
        raw_files = data.get("files")
        if not isinstance(raw_files, list) or len(raw_files) > MAX_FILES:
            bad("files", f"expected a list of at most {MAX_FILES} files")
            raw_files = []
        files = _files(raw_files, bad)
        if problems:
            raise FormatError(
                f"{label} is not a valid bundle description",
                problems=problems,
                hint=_NEVER_REPAIR,
            )
        return cls(
            name=str(data.get("name", "")),
            target=str(data["target"]),
            lock=str(data["lock"]),
            mlenv=str(data.get("mlenv", "")),
            files=tuple(files),
            local=tuple(local),
        )


_TOP_KEYS = {"version", "kind", "name", "target", "lock", "mlenv", "local", "files"}
_FILE_KEYS = {"path", "role", "sha256", "size", "md5"}
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _file(raw: Any, where: str, bad: Callable[[str, str], None]) -> BundleFile | None:
    if (
        not isinstance(raw, dict)
        or set(raw) - _FILE_KEYS
        or not {"path", "sha256", "size"} <= set(raw)
    ):
        bad(where, "expected {path, role, sha256, size[, md5]}")
        return None
    path, sha, size, role, md5 = (raw.get(k) for k in ("path", "sha256", "size", "role", "md5"))
    ok = True
    for field, problem in (
        ("path", relpath_problem(path)),
        ("sha256", hex_problem(sha, "sha256")),
        ("md5", hex_problem(md5, "md5") if md5 is not None else None),
        ("role", None if role in ROLES else f"unknown role {role!r}"),
    ):
        if problem:
            bad(f"{where}.{field}", problem)
            ok = False
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TOTAL:
        bad(f"{where}.size", f"{size!r} is not a size in bytes (0 to {MAX_TOTAL})")
        return None
    if not ok:
        return None
    return BundleFile(path=str(path), sha256=str(sha), size=size, role=str(role), md5=md5)


def _files(raw_files: list[Any], bad: Callable[[str, str], None]) -> list[BundleFile]:
    """The listed files, each checked; duplicates, paths that are folders of other paths (or
    of bundle.json) and a total beyond MAX_TOTAL are problems."""
    files: list[BundleFile] = []
    seen: dict[str, int] = {BUNDLE_FILE: -1}
    for i, raw in enumerate(raw_files):
        f = _file(raw, f"files[{i}]", bad)
        if f is None:
            continue
        if f.path in seen:
            bad(f"files[{i}].path", f"{f.path!r} is listed twice (or is {BUNDLE_FILE})")
            continue
        seen[f.path] = i
        files.append(f)
    for f in files:
        parts = f.path.split("/")
        for n in range(1, len(parts)):
            folder = "/".join(parts[:n])
            if folder in seen:
                bad(f"files[{seen[f.path]}].path", f"{f.path!r} lies inside the file {folder!r}")
    total = sum(f.size for f in files)
    if total > MAX_TOTAL:
        bad("files", f"the sizes add up to {total} bytes, more than the cap of {MAX_TOTAL}")
    return files


def parse_manifest(data: bytes, label: str) -> BundleManifest:
    """bundle.json's bytes as a checked description (duplicate JSON keys refused)."""
    if len(data) > MAX_MANIFEST:
        raise IntegrityError(
            f"{label} is {len(data)} bytes, more than the {MAX_MANIFEST} a bundle.json may be",
            hint=_NEVER_REPAIR,
        )
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeError, ValueError, RecursionError) as e:
        raise IntegrityError(f"{label} is unreadable", why=str(e), hint=_NEVER_REPAIR) from e
    return BundleManifest.from_dict(doc, label)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def safe_member(path: str) -> bool:
    return relpath_problem(path) is None


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
            store,
            pin.url,
            sha256=pin.sha256,
            label=pin.filename,
            options=opts,
            reporter=rep,
            size=pin.size,
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
        if a.local_env or is_folder(a):  # data the user supplies; a folder stays beside them
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
            size=a.size,
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
    unsafe = [p for p in paths if not safe_member(p)]
    twice = sorted({p for p, q in itertools.pairwise(paths) if p == q})
    if unsafe or twice:
        raise IntegrityError(
            f"cannot pack {', '.join(repr(p) for p in (unsafe + twice)[:5])}: "
            + ("not a safe relative path" if unsafe else "two files at one path"),
            why="the lock names a file with a path no bundle may hold",
            hint="re-create the lock with `mlenv resolve` (never edit it by hand)",
        )
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


def read_manifest(root: Path) -> BundleManifest:
    """bundle.json of an unpacked bundle (a plain file of at most MAX_MANIFEST bytes)."""
    path = root / BUNDLE_FILE
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise IntegrityError(f"{path} is not a plain file", hint=_NEVER_REPAIR)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_MANIFEST + 1)
    except FileNotFoundError as e:
        raise IntegrityError(
            f"{root} is not an mlenv bundle: it has no {BUNDLE_FILE}",
            hint="pass the .tar file `mlenv pack` wrote, or the folder it was unpacked into",
        ) from e
    except OSError as e:
        raise IntegrityError(f"{path} is unreadable", why=str(e), hint=_NEVER_REPAIR) from e
    return parse_manifest(data, str(path))


def _all_files(root: Path) -> tuple[list[str], list[str]]:
    """(plain files, anything else: links, devices, fifos) below root, relative, sorted."""
    files, others = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                others.append(rel)
            elif not path.is_dir():
                files.append(rel)
    return sorted(files), sorted(others)


def verification_error(
    problems: list[Problem], details: list[dict[str, Any]], label: str
) -> IntegrityError:
    first = details[0]
    return IntegrityError(
        f"the bundle failed verification: {len(problems)} file(s) differ from {BUNDLE_FILE} "
        f"(first: {first['path']})",
        where=label,
        problems=problems,
        why="the bundle was changed or damaged after `mlenv pack` wrote it; nothing from it "
        "was installed",
        hint=_NEVER_REPAIR,
        details={"files": details},
    )


def hash_problem(f: BundleFile, actual: str) -> tuple[Problem, dict[str, Any]]:
    return (
        Problem(where=f.path, message=f"expected sha256 {f.sha256}\ngot sha256 {actual}"),
        {"path": f.path, "expected": f.sha256, "actual": actual},
    )


def verify_bundle(root: Path, label: str | None = None) -> BundleManifest:
    """Every listed file present with its sha256, and nothing unlisted; else IntegrityError
    naming each file with the expected and the actual sha256 (`label`: the bundle's name).
    A folder holding links, devices or fifos is refused (nothing is followed out of it)."""
    manifest = read_manifest(root)
    problems, details = [], []
    files, others = _all_files(root)
    for other in others:
        problems.append(Problem(where=other, message="is a link or a special file"))
        details.append({"path": other, "expected": None, "actual": "not a plain file"})
    if others:
        raise verification_error(problems, details, label or str(root))
    for f in manifest.files:
        path = within(root, f.path, what="bundle file")
        if not path.is_file():
            problems.append(Problem(where=f.path, message="missing from the bundle"))
            details.append({"path": f.path, "expected": f.sha256, "actual": None})
            continue
        actual = sha256_file(path)
        if actual != f.sha256:
            problem, detail = hash_problem(f, actual)
            problems.append(problem)
            details.append(detail)
    listed = {f.path for f in manifest.files} | {BUNDLE_FILE}
    for extra in (p for p in files if p not in listed):
        problems.append(Problem(where=extra, message=f"not listed in {BUNDLE_FILE}"))
        details.append({"path": extra, "expected": None, "actual": "unlisted"})
    if problems:
        raise verification_error(problems, details, label or str(root))
    return manifest


def missing_from(manifest: BundleManifest, section: LockTarget) -> list[str]:
    """What the lock section needs that the bundle does not hold (empty: complete)."""
    shas = {f.sha256 for f in manifest.of_role(*STORE_ROLES)}
    md5s = {f.md5 for f in manifest.of_role("artifact") if f.md5}
    recipes = {f.path: f.sha256 for f in manifest.of_role("recipe")}
    out = [f"wheel {p.filename} (sha256 {p.sha256})" for p in section.pypi if p.sha256 not in shas]
    out += [f"conda package {c.name} {c.version}" for c in section.conda if c.sha256 not in shas]
    for a in section.artifacts:
        if a.local_env or is_folder(a):
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
                store.add(within(root, f.path, what="bundle file"), f.sha256, f.path)
                count += 1
        if f.md5:
            store.remember_md5(f.md5, f.sha256)
    return count
