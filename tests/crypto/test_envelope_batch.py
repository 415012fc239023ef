"""The opening's native batch (`envelope_open_batch`): a batch large enough for the multi-buffer
SM3 groups gives, item by item, what the same items give opened one at a time (the single-stream
path), and a bad item fails alone with its own error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bidkernel import _native
from bidkernel.crypto import envelope as env
from bidkernel.crypto.ca import ENCRYPTION, TestCA
from bidkernel.crypto.sm3 import sm3

# at least 8 items per batch thread (2 x cores threads): the grouped (multi-buffer SM3) path
N = max(48, 16 * (os.cpu_count() or 1))


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, bytes, bytes, env.EnvelopeHeader]]:
    ca = TestCA.create()
    holder = ca.issue("CN=Batch opening key", key_usage=ENCRYPTION)
    d = tmp_path_factory.mktemp("batch")
    out = []
    for i in range(N):
        size = [0, 1, 63, 64, 1000, 262_144, 300_000, 700_001][i % 8] + i
        plaintext = os.urandom(size)
        path = d / f"e{i}"
        path.write_bytes(env.seal(plaintext, [holder.certificate]))
        header = env.read_header_from_file(path)
        key = env.unwrap_content_key(header, holder.key, holder.certificate)
        out.append((path, plaintext, key, header))
    return out


def _item(path: Path, key: bytes, h: env.EnvelopeHeader, out: Path | None, digest: bytes):
    return (key, h.iv, path, h.ciphertext_offset, h.ciphertext_length, out, digest)


def test_grouped_batch_matches_one_by_one(sealed, tmp_path: Path) -> None:
    items = []
    for i, (path, _pt, key, h) in enumerate(sealed):
        digest = sm3(path.read_bytes())
        if i == 5:
            digest = bytes([digest[0] ^ 1]) + digest[1:]  # the bidder signed another file
        if i == 9:
            key = bytes(16)  # the wrong content key: the padding check fails
        out = tmp_path / f"p{i}" if i % 3 == 0 else None
        items.append(_item(path, key, h, out, digest))
    grouped = _native.envelope_open_batch(items)
    written = {i: (tmp_path / f"p{i}").read_bytes() for i in range(N) if (tmp_path / f"p{i}").exists()}
    for p in tmp_path.iterdir():
        p.unlink()
    single = [_native.envelope_open_batch([it])[0] for it in items]
    for i, (g, s) in enumerate(zip(grouped, single, strict=True)):
        assert type(g) is type(s), i
        if isinstance(g, Exception):
            assert str(g) == str(s), i
        elif isinstance(g, bytes):
            assert g == s == sealed[i][1], i
        else:
            assert g == s == len(sealed[i][1]), i
            assert written[i] == sealed[i][1], i
    assert isinstance(grouped[5], Exception) and "digest" in str(grouped[5]).lower()
    assert isinstance(grouped[9], Exception)
    assert sum(not isinstance(g, Exception) for g in grouped) == N - 2
    assert 9 not in written  # a failed item leaves no output, not even a temporary file
    assert sorted(written) == [i for i in range(0, N, 3) if i != 9]
