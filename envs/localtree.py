"""A folder of data beside a recipe (`local: {path, tree-sha256}`, e.g. `mlenv add dataset
./images/`): its tree digest (envs/archives.py `tree_entries`) checked against the lock's, then
copied once into the store as a tree keyed `local-<digest>`, whose files environments link to
as they do an extracted archive's. The folder is only read, never written.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from mlenv.errors import InstallError, IntegrityError
from mlenv.reporter import Reporter

from .archives import (
    LISTING_VERSION,
    Tree,
    entries_digest,
    tree_entries,
    tree_paths,
    tree_size,
    write_listing,
)
from .store import Store


def tree_key(digest: str) -> str:
    return f"local-{digest}"


def _refuse_specials(root: Path, label: str) -> None:
    """Only folders, files and symbolic links that stay inside the folder."""
    top = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = path.resolve()
                if target != top and top not in target.parents:
                    raise InstallError(
                        f"{path} in {label} links outside the folder ({target})",
                        hint="replace the link by the file itself",
                    )
            elif not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                raise InstallError(
                    f"{path} in {label} is not a file or a folder",
                    hint="remove it from the folder",
                )


def changed_folder(source: Path, expected: str, actual: str, label: str) -> IntegrityError:
    return IntegrityError(
        f"the folder {source} changed since its recipe's tree-sha256 was written",
        where=label,
        why=f"the lock pins tree sha256 {expected}; the folder now has {actual}",
        hint="if the new contents are meant, run `mlenv recipes checksum --update NAME` and "
        "`mlenv resolve`; otherwise put the old files back",
    )


def folder_tree(
    store: Store, source: Path, expected: str, *, label: str, reporter: Reporter
) -> Tree:
    """The store's copy of the folder `source`, whose tree digest must be `expected`."""
    if not source.is_dir():
        raise InstallError(
            f"{label} names the folder {source}, which is not there",
            hint="put the folder back, or re-add it with `mlenv add dataset FOLDER`",
        )
    key = tree_key(expected)
    folder, listing = tree_paths(store, key)
    with store.lock(f"tree-{key}"):
        if (
            folder.is_dir()
            and listing.is_file()
            and entries_digest(tree_entries(folder)) == expected
        ):
            data = json.loads(listing.read_text(encoding="utf-8"))
            return Tree(
                key=key,
                path=folder,
                digest=expected,
                files=int(data.get("files", 0)),
                size=int(data.get("size", 0)),
            )
        _refuse_specials(source, label)
        listing.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        reporter.info(f"copying {label} into the store")
        store.tmp.mkdir(parents=True, exist_ok=True)
        build = store.tmp / f"tree-{key}.{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        try:
            shutil.copytree(source, build, symlinks=True)
            entries = tree_entries(build)  # the copy is what is checked (the folder may move)
            actual = entries_digest(entries)
            if actual != expected:
                raise changed_folder(source, expected, actual, label)
            size = tree_size(build)
            store.trees.mkdir(parents=True, exist_ok=True)
            os.replace(build, folder)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        files = sum(1 for e in entries if e.startswith("f\t"))
        document = {
            "version": LISTING_VERSION,
            "folder": str(source),
            "digest": expected,
            "files": files,
            "size": size,
            "entries": entries,
        }
        write_listing(listing, document)
        return Tree(key=key, path=folder, digest=expected, files=files, size=size)
