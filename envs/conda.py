"""The conda layer: a prefix linked by py-rattler from the lock's pins only, hash-checked.

Every package is fetched into the store first and verified there against the locked sha256
(py-rattler itself does not check file:// packages). rattler then installs from hard links of
those verified files, with records read from the files themselves: no solve, no repodata, no
network.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import rattler
from rattler import exceptions as rx

from mlenv.asyncrun import run_async
from mlenv.errors import InstallError
from mlenv.lock import CondaPin
from mlenv.reporter import Reporter

from .download import FetchOptions, fetch_to_store
from .store import Store, link_or_copy

ARCHIVE_SUFFIXES = (".tar.bz2", ".conda")

RATTLER_ERRORS: tuple[type[Exception], ...] = (
    rx.InstallerError,
    rx.LinkError,
    rx.TransactionError,
    rx.ExtractError,
    rx.IoError,
    rx.CacheDirError,
    rx.InvalidUrlError,
    rx.ParseSubdirError,
)


def pin_filename(pin: CondaPin) -> str:
    name = pin.url.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1]
    if not name.endswith(ARCHIVE_SUFFIXES):
        raise InstallError(
            f"conda package {pin.name} {pin.version} has no .tar.bz2 or .conda file name",
            where=pin.url,
            hint="re-create the lock with `mlenv resolve` (never edit it by hand)",
        )
    return name


def source_url(url: str, project_dir: Path) -> str:
    """A lock URL as fetch_to_store takes it: `./…` and `../…` are relative to the project."""
    if url.startswith(("./", "../")):
        return str(project_dir / url)
    return url


def fetch_packages(
    pins: Sequence[CondaPin],
    *,
    store: Store,
    options: FetchOptions,
    reporter: Reporter,
    project_dir: Path,
) -> dict[str, Path]:
    """Every pinned package in the store, verified; returns sha256 -> store path."""
    return {
        p.sha256: fetch_to_store(
            store,
            source_url(p.url, project_dir),
            sha256=p.sha256,
            label=pin_filename(p),
            options=options,
            reporter=reporter,
        )[0]
        for p in pins
    }


async def _records(files: dict[Path, CondaPin]) -> list[rattler.RepoDataRecord]:
    records = []
    for path, pin in files.items():
        record = await rattler.RepoDataRecord.from_package_archive(path)
        got = (record.name.normalized, str(record.version), str(record.build), record.subdir)
        want = (pin.name, pin.version, pin.build, pin.subdir)
        if got != want:
            raise InstallError(
                f"the file locked for conda package {pin.name} holds {'/'.join(got)}",
                where=pin.url,
                why=f"the lock pins {'/'.join(want)}",
                hint="re-create the lock with `mlenv resolve` (never edit it by hand)",
            )
        records.append(record)
    return records


async def _install(
    files: dict[Path, CondaPin],
    prefix: Path,
    cache_dir: Path,
    platform: str | None,
    final_prefix: Path | None,
) -> None:
    records = await _records(files)
    await rattler.install(
        records,
        prefix,
        cache_dir=cache_dir,
        platform=rattler.Subdir(platform) if platform else None,
        execute_link_scripts=False,
        show_progress=False,
        alternative_target_prefix=final_prefix,
    )


def build_conda(
    pins: Sequence[CondaPin],
    prefix: Path,
    *,
    store: Store,
    options: FetchOptions,
    reporter: Reporter,
    project_dir: Path,
    cache_dir: Path,
    final_prefix: Path | None = None,
) -> None:
    """Install exactly `pins` into `prefix`, from verified store objects only.

    `cache_dir` is rattler's package cache (extracted packages, keyed and checked by sha256).
    `final_prefix` is where the prefix will live when it is built elsewhere and renamed into
    place: the path written into files that carry a prefix placeholder.
    """
    if not pins:
        return
    objects = fetch_packages(
        pins, store=store, options=options, reporter=reporter, project_dir=project_dir
    )
    subdirs = sorted({p.subdir for p in pins} - {"noarch"})
    if len(subdirs) > 1:
        raise InstallError(
            f"the conda packages are built for several platforms: {', '.join(subdirs)}",
            hint="re-create the lock with `mlenv resolve` (never edit it by hand)",
        )
    reporter.info(f"installing {len(pins)} conda packages")
    store.tmp.mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Hard links of the store objects under their archive names (rattler reads the format
    # from the name), in the store's own folder so that linking never crosses a device.
    with tempfile.TemporaryDirectory(prefix="conda-", dir=store.tmp) as tmp:
        files: dict[Path, CondaPin] = {}
        for pin in sorted(pins, key=lambda p: (p.name, p.version, p.build)):
            path = Path(tmp, pin.subdir, pin_filename(pin))
            link_or_copy(objects[pin.sha256], path)
            files[path] = pin
        try:
            run_async(
                _install(files, prefix, cache_dir, subdirs[0] if subdirs else None, final_prefix)
            )
        except RATTLER_ERRORS as e:
            raise InstallError(
                f"py-rattler failed to install the conda packages into {prefix}",
                why="\n".join(str(e).strip().splitlines()[-12:]),
                hint="delete the rattler package cache "
                f"({cache_dir}) and run the command again; if it persists, re-resolve",
            ) from e
