"""Whole files are hashed with `hashlib.file_digest` (issue 18): every helper agrees with a
digest of the file's bytes, for an empty file and one larger than any read buffer."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from mlenv.envs.record import _digest
from mlenv.envs.store import md5_file, sha256_file
from mlenv.ops.datafile import file_facts
from mlenv.ops.localfiles import file_sha256
from mlenv.ops.recipes import _hash_file


@pytest.mark.parametrize("size", [0, 1, 3 * (1 << 20) + 7])
def test_every_whole_file_digest_matches_the_bytes(tmp_path: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == sha
    assert md5_file(path) == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert file_facts(path) == (sha, size)
    assert _hash_file(path) == (sha, size)
    cache: dict[str, object] = {}
    assert file_sha256(path, cache) == sha and file_sha256(path, cache) == sha
    for algorithm in ("sha256", "sha384", "sha512"):
        raw = hashlib.new(algorithm, data).digest()
        assert _digest(path, algorithm) == base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
