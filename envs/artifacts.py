"""The artifact layer: models and data sets placed under `artifacts/<package>/`, linked from
the store after verification. Sources: a URL, a file beside the recipes (`builtin:` or a path
relative to the manifest), a file inside a pinned wheel, or a folder the user supplies. An
archive (`extract: tar|zip`) is extracted once into the store (envs/archives.py) and its tree
linked to `artifacts/<package>/<name>/`; `path` names the file inside it the harness uses."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlenv.errors import InstallError, IntegrityError
from mlenv.lock import ArtifactPin
from mlenv.paths import BUILTIN_PREFIX
from mlenv.reporter import Reporter

from .archives import changed_files, extracted_tree, link_tree, tree_digest, tree_paths
from .download import FetchOptions, fetch_to_store
from .store import Store, link_or_copy, sha256_file


@dataclass(frozen=True, kw_only=True)
class ArtifactContext:
    store: Store
    project_dir: Path  # where `./…` artifact names are relative to (the manifest folder)
    builtin_dir: Path
    options: FetchOptions
    reporter: Reporter
    environ: Mapping[str, str]


def source_of(pin: ArtifactPin, ctx: ArtifactContext) -> str:
    """A downloadable URL or a local path for the pin's url."""
    url = pin.url or ""
    if url.startswith(BUILTIN_PREFIX):
        return str(ctx.builtin_dir / url[len(BUILTIN_PREFIX) :])
    if "://" in url:
        return url
    return str(ctx.project_dir / url)


def _member(wheel: Path, pin: ArtifactPin, ctx: ArtifactContext) -> Path:
    """Take `pin.member` out of the wheel into the store, verified by its own sha256."""
    sha = pin.member_sha256 or ""
    label = f"{pin.member} (in {pin.url.rsplit('/', 1)[-1] if pin.url else 'a wheel'})"
    with ctx.store.lock(sha):
        if ctx.store.has(sha):
            return ctx.store.verified(sha, label)
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(str(pin.member))
        except KeyError as e:
            raise InstallError(
                f"{pin.member} is not inside {pin.url}",
                where=f"artifact {pin.name} of {pin.package}",
                hint="fix the wheel-file path in the recipe",
            ) from e
        except zipfile.BadZipFile as e:
            raise IntegrityError(f"{wheel} is not a valid wheel", hint="delete it and retry") from e
        tmp = ctx.store.temp_path(sha)
        tmp.write_bytes(data)
        return ctx.store.add(tmp, sha, label, move=True)


def local_folder(pin: ArtifactPin, environ: Mapping[str, str]) -> Path:
    """The folder of data the user supplies (a `local:` source), or a diagnostic."""
    value = environ.get(str(pin.local_env))
    if not value or not Path(value).is_dir():
        raise InstallError(
            f"{pin.package} needs data you supply: set {pin.local_env} to its folder",
            where=f"artifact {pin.name} of {pin.package}",
            why=f"{pin.local_env} is {'unset' if not value else f'not a folder: {value}'}",
            hint=f"export {pin.local_env}=/path/to/the/data and run the command again",
        )
    return Path(value).absolute()


def place_artifact(pin: ArtifactPin, dest_root: Path, ctx: ArtifactContext) -> dict[str, str]:
    """Place one artifact under `dest_root/<package>/`; returns what env.json records."""
    folder = dest_root / pin.package
    folder.mkdir(parents=True, exist_ok=True)
    label = f"artifact {pin.name} of {pin.package}"
    if pin.local_env:
        os.symlink(local_folder(pin, ctx.environ), folder / pin.name)
        return {"path": f"{pin.package}/{pin.name}", "local": pin.local_env}
    obj, sha = fetch_to_store(
        ctx.store,
        source_of(pin, ctx),
        sha256=pin.sha256,
        md5=pin.md5,
        label=label,
        options=ctx.options,
        reporter=ctx.reporter,
    )
    if pin.member:
        obj = _member(obj, pin, ctx)
        sha = pin.member_sha256 or sha
        name = PurePosixPath(pin.member).name
    else:
        name = pin.name
    if pin.extract:
        return _place_tree(pin, obj, sha, folder, ctx)
    link_or_copy(obj, folder / name)
    return {"path": f"{pin.package}/{name}", "sha256": sha}


def _place_tree(
    pin: ArtifactPin, archive: Path, sha: str, folder: Path, ctx: ArtifactContext
) -> dict[str, str]:
    """An archive: its extracted tree (cached in the store) linked to `<package>/<name>/`."""
    label = f"{pin.name} (artifact of {pin.package})"
    tree = extracted_tree(
        ctx.store,
        archive,
        sha,
        extract=str(pin.extract),
        strip=pin.strip or 0,
        label=label,
        reporter=ctx.reporter,
    )
    recorded = {
        "path": f"{pin.package}/{pin.name}",
        "sha256": sha,
        "tree": tree.key,
        "tree-sha256": tree.digest,
    }
    if pin.path:
        inner = tree.path / pin.path
        if PurePosixPath(pin.path).is_absolute() or ".." in PurePosixPath(pin.path).parts:
            raise InstallError(
                f"the path {pin.path!r} of {label} must be relative to the extracted tree",
                hint="fix `path:` in the recipe (a file inside the archive, after `strip`)",
            )
        if not inner.is_file():
            top = sorted(p.name + ("/" if p.is_dir() else "") for p in tree.path.iterdir())
            shown = ", ".join(top[:8]) + (", …" if len(top) > 8 else "")
            raise InstallError(
                f"{pin.path} is not a file inside {label}",
                where=f"artifact {pin.name} of {pin.package}",
                why=f"after strip: {pin.strip or 0}, the archive holds: {shown or 'nothing'}",
                hint="fix `path:` (or `strip:`) in the recipe",
            )
        recorded["file"] = pin.path
    link_tree(tree.path, folder / pin.name)
    return recorded


def placed_file(env_artifacts: Path, info: Mapping[str, str]) -> Path:
    """What the harness uses of one recorded artifact: the file, the file inside an extracted
    archive (`file`), or the folder (an archive without `path`, user-supplied data)."""
    path = env_artifacts / info["path"]
    return path / info["file"] if info.get("file") else path


def verify_placed(
    env_artifacts: Path, recorded: Mapping[str, Mapping[str, str]], store: Store | None = None
) -> list[str]:
    """Differences between placed artifacts and what env.json recorded (with the store, the
    changed files of an extracted archive are named)."""
    out = []
    for key, info in sorted(recorded.items()):
        path = env_artifacts / info["path"]
        if "local" in info:
            if not path.exists():
                out.append(f"{key}: the folder named by {info['local']} is gone ({path})")
            continue
        if "tree-sha256" in info:
            out.extend(_verify_tree(key, path, info, store))
            continue
        if not path.is_file():
            out.append(f"{key}: missing {path}")
        elif sha256_file(path) != info["sha256"]:
            out.append(f"{key}: {path} changed (sha256 no longer {info['sha256']})")
    return out


def _verify_tree(key: str, path: Path, info: Mapping[str, str], store: Store | None) -> list[str]:
    if not path.is_dir() or path.is_symlink():
        return [f"{key}: missing the extracted folder {path}"]
    if tree_digest(path) == info["tree-sha256"]:
        return []
    changed = changed_files(path, tree_paths(store, info["tree"])[1]) if store else []
    detail = f": {'; '.join(changed)}" if changed else ""
    return [f"{key}: {path} changed (tree sha256 no longer {info['tree-sha256']}){detail}"]
