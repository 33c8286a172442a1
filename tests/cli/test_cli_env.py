"""`mlenv env list | remove | gc`, and an archive artifact installed end to end."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlenv.lock import load_lock

INNER = b"\x08\x07 the model inside the tarball\n" * 32


def archive_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("bundle-1/model/net.onnx", INNER), ("bundle-1/LICENSE", b"MIT\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 315532800, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def add_archive_recipe(project: Any, helpers: Any) -> None:
    """`tarmodel`: a tar.gz served by the local server, strip 1, `path` inside it."""
    data = archive_bytes()
    project.server.files["/artifacts/bundle.tar.gz"] = data
    project.write(
        "recipes/models/tarmodel.yaml",
        f"""
        name: tarmodel
        kind: model
        summary: a model inside a tarball
        versions: ["1.0"]
        install:
          - artifact:
              url: "{project.server.url("/artifacts/bundle.tar.gz")}"
              sha256: {helpers.sha256(data)}
              extract: tar
              strip: 1
              path: model/net.onnx
        """,
    )


def store_objects(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "store" / "sha256").glob("*/*"))


def test_archive_artifact_end_to_end(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    project = make_project(requires=("tinybeta", "tarmodel"))
    add_archive_recipe(project, helpers)
    result = mlenv(project, "install")
    assert result.returncode == 0, str(result)
    env = Path(result.stdout.strip())
    info = json.loads((env / "env.json").read_text())["artifacts"]["tarmodel/bundle.tar.gz"]
    assert info["path"] == "tarmodel/bundle.tar.gz" and info["file"] == "model/net.onnx"
    assert (env / "artifacts" / info["path"] / info["file"]).read_bytes() == INNER
    assert (env / "artifacts" / "tarmodel" / "bundle.tar.gz" / "LICENSE").exists()
    assert mlenv(project, "verify").returncode == 0
    placed = env / "artifacts" / "tarmodel" / "bundle.tar.gz" / "LICENSE"
    placed.unlink()
    placed.write_bytes(b"GPL\n")
    helpers.assert_user_error(mlenv(project, "verify"), "tarmodel/bundle.tar.gz", "changed")
    # gc keeps the tree (the lock references it); a forced offline rebuild reuses it
    gc = mlenv(project, "env", "gc", "--json")
    assert gc.returncode == 0, str(gc)
    assert "tree" not in json.loads(gc.stdout)["data"]["removed"]
    again = mlenv(project, "install", "--force", "--frozen", "--offline")
    assert again.returncode == 0, str(again)
    assert "extracting" not in again.err
    assert mlenv(project, "verify").returncode == 0


def test_env_list_shows_state_and_size(installed: Any, cli: Callable[..., Any]) -> None:
    (section,) = load_lock(installed.lock).targets.values()
    listed = cli(installed.root, "env", "list", "--json", home=installed.home)
    assert listed.returncode == 0, str(listed)
    (row,) = json.loads(listed.stdout)["data"]["envs"]
    assert row["target"] == section.name and row["state"] == "current"
    assert row["lock"] == section.digest() and row["size"] > row["exclusive"] > 0
    env_json = installed.env / "env.json"
    env_json.write_text(env_json.read_text().replace(section.digest(), "sha256:" + "0" * 64))
    human = cli(installed.root, "env", "list", home=installed.home)
    assert human.returncode == 0 and section.name in human.err and "stale" in human.err


def test_env_remove_then_gc_frees_the_store(
    installed: Any, cli: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    home = installed.home
    junk = home / "store" / "sha256" / "ab" / ("ab" + "0" * 62)
    junk.parent.mkdir(exist_ok=True)
    junk.write_bytes(b"nobody references this")
    before = store_objects(home)
    dry = cli(installed.root, "env", "gc", "--dry-run", home=home)
    assert dry.returncode == 0, str(dry)
    assert "would remove 1 store objects" in dry.err and junk.name in dry.err
    assert store_objects(home) == before
    gc = cli(installed.root, "env", "gc", home=home)
    assert gc.returncode == 0 and "removed 1 store objects" in gc.err
    assert store_objects(home) == sorted(set(before) - {junk.name})
    assert mlenv(installed, "verify").returncode == 0

    removed = cli(installed.root, "env", "remove", "--json", home=home)
    assert removed.returncode == 0, str(removed)
    assert json.loads(removed.stdout)["data"]["removed"][0]["path"] == str(installed.env)
    assert not installed.env.exists() and installed.leftovers() == []
    installed.lock.unlink()  # nothing references anything now
    everything = cli(installed.root, "env", "gc", "--json", home=home)
    doc = json.loads(everything.stdout)["data"]
    assert doc["removed"]["object"]["count"] == len(before) - 1 and store_objects(home) == []
    assert doc["freed"] > 0
    uv_cache = home / "cache" / "uv"
    assert uv_cache.is_dir()
    caches = cli(installed.root, "env", "gc", "--caches", "--json", home=home)
    assert caches.returncode == 0, str(caches)
    assert json.loads(caches.stdout)["data"]["removed"]["cache"]["count"] >= 1
    assert not uv_cache.exists() or not any(uv_cache.glob("*/*"))
    again = mlenv(installed, "install")  # the server is still there: the store fills again
    assert again.returncode == 0, str(again)


def test_gc_keeps_what_any_listed_project_needs(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], cli: Callable[..., Any]
) -> None:
    a = make_project("a", requires=("tinybeta",))
    b = make_project("b", requires=("tinymodel", "remotemodel"))
    for project in (a, b):
        assert mlenv(project, "install").returncode == 0
    both = store_objects(a.home)
    gc = cli(a.root, "env", "gc", str(a.root), str(b.root), home=a.home)
    assert gc.returncode == 0 and store_objects(a.home) == both
    b.lock.unlink()  # b's env.json alone still keeps b's objects
    cli(a.root, "env", "gc", str(a.root), str(b.root), home=a.home)
    assert store_objects(a.home) == both
    kept = cli(a.root, "env", "gc", "--json", home=a.home)  # b is remembered in the store
    assert kept.returncode == 0 and store_objects(a.home) == both
    only_a = cli(a.root, "env", "gc", "--only", "--json", home=a.home)
    gone = {Path(i["path"]).name for i in json.loads(only_a.stdout)["data"]["items"]}
    assert gone and gone == set(both) - set(store_objects(a.home))
    assert mlenv(a, "verify").returncode == 0


def test_env_errors_are_diagnostics(
    installed: Any, cli: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    home = installed.home
    helpers.assert_user_error(
        cli(installed.root, "env", "remove", "no-such-target", home=home), "no-such-target"
    )
    helpers.assert_user_error(
        cli(installed.root, "env", "gc", str(installed.root / "nowhere"), home=home), "nowhere"
    )
    stray = installed.root / "recipes"  # a folder, but no project: gc refuses to empty the store
    helpers.assert_user_error(
        cli(installed.root, "env", "gc", str(stray), home=home), "not an mlenv project"
    )
    outside = installed.root.parent / "not-a-project"  # no mlenv.yaml here nor above
    outside.mkdir()
    helpers.assert_user_error(cli(outside, "env", "gc", home=home), "not an mlenv project")
    inside = cli(stray, "env", "gc", "--dry-run", home=home)  # the manifest above is found
    assert inside.returncode == 0 and "referenced by 1 project" in inside.err, str(inside)
    installed.lock.write_text("version: 1\ntargets: [not, a, mapping]\n")
    bad = cli(installed.root, "env", "gc", home=home)
    helpers.assert_user_error(bad, "mlenv.lock", "gc cannot tell")
    assert installed.env.exists()
    assert cli(installed.root, "env", home=home).returncode == 2
    assert mlenv(installed, "env", "remove", "--all").returncode == 0
    helpers.assert_user_error(cli(installed.root, "env", "remove", home=home), "no environments")
