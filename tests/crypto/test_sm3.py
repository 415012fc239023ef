"""SM3 and HMAC-SM3 through the Python API: GB/T and Wycheproof vectors (read from the files),
streaming == one-shot, files, batches, and differential tests against pyca/cryptography (OpenSSL)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac

from bidkernel.crypto import sm3 as m
from bidkernel.crypto.sm3 import Sm3Hash, hmac_sm3, hmac_sm3_verify, sm3, sm3_file, sm3_files, sm3_many


def _ref_sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _ref_hmac(key: bytes, data: bytes) -> bytes:
    h = c_hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize()


def _gbt_cases(vectors_dir: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((vectors_dir / "sm3_gbt32905.json").read_text())["cases"]
    assert len(cases) >= 3
    return cases


def _wycheproof(vectors_dir: Path, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    doc = json.loads((vectors_dir / "wycheproof" / name).read_text())
    out = [(g, t) for g in doc["testGroups"] for t in g["tests"]]
    assert len(out) == doc["numberOfTests"]
    return out


def test_gbt32905_vectors_one_shot_streamed_and_file(vectors_dir: Path, tmp_path: Path) -> None:
    for c in _gbt_cases(vectors_dir):
        msg, want = bytes.fromhex(c["msg"]), bytes.fromhex(c["digest"])
        assert sm3(msg) == want, c["id"]
        h = Sm3Hash()
        for i in range(0, len(msg), 5):
            h.update(msg[i : i + 5])
        assert h.digest() == want, c["id"]
        assert h.hexdigest() == c["digest"]
        p = tmp_path / "msg"
        p.write_bytes(msg)
        assert sm3_file(p) == want
        assert sm3_many([msg]) == [want]


def test_hmac_sm3_wycheproof(vectors_dir: Path) -> None:
    counts = {"valid": 0, "invalid": 0}
    for g, t in _wycheproof(vectors_dir, "hmac_sm3_test.json"):
        key, msg, tag = (bytes.fromhex(t[k]) for k in ("key", "msg", "tag"))
        ok = hmac_sm3_verify(key, msg, tag)
        if t["result"] == "valid":
            assert ok, t["tcId"]
            assert hmac_sm3(key, msg)[: g["tagSize"] // 8] == tag, t["tcId"]
        else:
            assert t["result"] == "invalid"
            assert not ok, t["tcId"]
        counts[t["result"]] += 1
    assert counts == {"valid": 66, "invalid": 108}


def test_hmac_rejects_too_short_or_too_long_tags() -> None:
    t = hmac_sm3(b"key", b"msg")
    assert hmac_sm3_verify(b"key", b"msg", t[: m.HMAC_MIN_TAG_SIZE])
    assert not hmac_sm3_verify(b"key", b"msg", t[: m.HMAC_MIN_TAG_SIZE - 1])
    assert not hmac_sm3_verify(b"key", b"msg", b"")
    assert not hmac_sm3_verify(b"key", b"msg", t + b"\x00")


def test_streaming_equals_one_shot_and_copy_is_independent() -> None:
    rng = random.Random(3)
    for _ in range(200):
        data = rng.randbytes(rng.randrange(0, 700))
        h = Sm3Hash()
        pos = 0
        while pos < len(data):
            step = rng.randrange(1, 130)
            h.update(data[pos : pos + step])
            pos += step
        snap = h.copy()
        h.update(b"tail")
        assert snap.digest() == sm3(data)
        assert h.digest() == sm3(data + b"tail")
    assert Sm3Hash(b"abc").digest() == sm3(b"abc")
    assert (Sm3Hash.name, Sm3Hash.digest_size, Sm3Hash.block_size) == ("sm3", 32, 64)


def test_large_buffer_streaming_and_file(tmp_path: Path) -> None:
    data = os.urandom(7 * 1024 * 1024 + 13)  # several 1 MiB reads plus a tail
    want = _ref_sm3(data)
    assert sm3(data) == want
    h = Sm3Hash()
    for i in range(0, len(data), 1 << 20):
        h.update(data[i : i + (1 << 20)])
    assert h.digest() == want
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert sm3_file(p) == want
    assert sm3_file(str(p)) == want


def test_file_errors_are_oserrors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sm3_file(tmp_path / "missing")
    with pytest.raises(OSError):
        sm3_file(tmp_path)  # a directory


def test_batch_of_buffers_and_files_with_bad_item_in_the_middle(tmp_path: Path) -> None:
    rng = random.Random(9)
    bufs = [rng.randbytes(rng.randrange(0, 5000)) for _ in range(300)]
    assert sm3_many(bufs) == [_ref_sm3(b) for b in bufs]
    assert sm3_many([]) == []
    paths: list[Path] = []
    for i, b in enumerate(bufs[:40]):
        p = tmp_path / f"f{i}"
        p.write_bytes(b)
        paths.append(p)
    paths.insert(20, tmp_path / "does-not-exist")
    res = sm3_files(paths)
    assert len(res) == 41
    assert isinstance(res[20], FileNotFoundError)
    assert [r for i, r in enumerate(res) if i != 20] == [_ref_sm3(b) for b in bufs[:40]]


_EDGE = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096]


def test_differential_sm3_against_cryptography_10000_cases() -> None:
    rng = random.Random(0x5A3)
    for i in range(10_000):
        n = _EDGE[i % len(_EDGE)] if i % 3 == 0 else rng.randrange(0, 2100)
        data = rng.randbytes(n)
        assert sm3(data) == _ref_sm3(data), n


def test_differential_hmac_sm3_against_cryptography_10000_cases() -> None:
    rng = random.Random(0x4AC)
    for i in range(10_000):
        key = rng.randbytes(rng.choice([0, 1, 16, 32, 63, 64, 65, 100, rng.randrange(0, 200)]))
        n = _EDGE[i % len(_EDGE)] if i % 3 == 0 else rng.randrange(0, 1500)
        data = rng.randbytes(n)
        tag = _ref_hmac(key, data)
        assert hmac_sm3(key, data) == tag
        if i % 10 == 0:
            assert hmac_sm3_verify(key, data, tag)
            bad = bytearray(tag)
            bad[rng.randrange(32)] ^= 1 << rng.randrange(8)
            assert not hmac_sm3_verify(key, data, bytes(bad))
