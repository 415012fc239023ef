"""SM2 (GB/T 32918) per-operation cost: bidkernel vs OpenSSL 3 (libcrypto through ctypes) vs the
pure-Python PyPI ``gmssl``, plus batch throughput of the native batch entry points on all cores.

Run (one core for the single-op groups, as recorded in docs/performance.md):

    taskset -c 0 python -m pytest benchmarks/test_bench_sm2.py --benchmark-enable \
        --benchmark-columns=min,median,ops -k "not batch"
    python -m pytest benchmarks/test_bench_sm2.py --benchmark-enable --benchmark-columns=min,median,ops -k batch
    taskset -c 0 openssl speed -seconds 3 sm2        # the C anchor, quoted from the same run

Each bidkernel operation is measured twice in the same run: on the default path (our SM2 field and
constant-time scalar multiplication, ``native/src/gm_sm2/{field,point}.rs``) and, as ``*_crate_path``,
with ``BIDKERNEL_FORCE_PORTABLE=1`` (the RustCrypto ``sm2`` crate's scalar multiplication, the
previous path). Verification uses the same variable-time code on both.

The ctypes figures include ~10-20 us of Python/ctypes call overhead per operation (several EVP
calls each); ``openssl speed sm2`` gives the same library without it. Messages are 32 bytes;
plaintexts are 16-byte content keys (the envelope case). In CI the file runs with
``--benchmark-disable``: every benchmarked function then runs once and its result is checked.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bidkernel.crypto import sm2


def _helper() -> ModuleType:
    name = "bidkernel_tests_openssl_sm2"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "tests" / "crypto" / "openssl_sm2.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


ossl = _helper()
needs_lib = pytest.mark.skipif(ossl.LIB is None, reason="libcrypto.so.3 with SM2 not found")

MSG = bytes(range(32))
CK = bytes(range(16))
BATCH = 2000


@pytest.fixture
def crate_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route this test's SM2 calls through the crate's scalar multiplication (the old path)."""
    monkeypatch.setenv("BIDKERNEL_FORCE_PORTABLE", "1")


@pytest.fixture(scope="module")
def key() -> Any:
    return sm2.generate_private_key()


@pytest.fixture(scope="module")
def gm(key: Any) -> Any:
    gmssl_sm2 = pytest.importorskip("gmssl.sm2")
    while True:  # gmssl's lstrip("04") bug: avoid public keys whose x starts with 0 or 4
        xy = key.public_key()[1:].hex()
        if xy[0] not in "04":
            break
        key = sm2.generate_private_key()
    d_hex = key.to_sec1(pem=False)[7:39].hex()
    return gmssl_sm2.CryptSM2(private_key=d_hex, public_key=xy, mode=1), key


@pytest.fixture(scope="module")
def okeys(key: Any) -> tuple[Any, Any]:
    if ossl.LIB is None:
        pytest.skip("libcrypto not found")
    return ossl.OsslKey(key.to_pkcs8()), ossl.OsslKey(sm2.public_key_to_spki(key.public_key()), public=True)


# ------------------------------------------------------------------ sign


def test_sign_bidkernel(benchmark: Any, key: Any) -> None:
    benchmark.group = "sm2 sign (32 B, default ID)"
    sig = benchmark(sm2.sign, key, MSG)
    assert sm2.verify(key.public_key(), MSG, sig)


def test_sign_bidkernel_crate_path(benchmark: Any, key: Any, crate_path: None) -> None:
    benchmark.group = "sm2 sign (32 B, default ID)"
    sig = benchmark(sm2.sign, key, MSG)
    assert sm2.verify(key.public_key(), MSG, sig)


@needs_lib
def test_sign_openssl_ctypes(benchmark: Any, key: Any, okeys: tuple[Any, Any]) -> None:
    benchmark.group = "sm2 sign (32 B, default ID)"
    sig = benchmark(okeys[0].sign, MSG, sm2.DEFAULT_ID)
    assert sm2.verify(key.public_key(), MSG, sig)


def test_sign_gmssl(benchmark: Any, gm: Any) -> None:
    benchmark.group = "sm2 sign (32 B, default ID)"
    g, k = gm
    sig = benchmark(g.sign_with_sm3, MSG)
    assert sm2.verify(k.public_key(), MSG, bytes.fromhex(sig), fmt="raw")


# ------------------------------------------------------------------ verify


def test_verify_bidkernel(benchmark: Any, key: Any) -> None:
    benchmark.group = "sm2 verify (32 B, default ID)"
    sig = sm2.sign(key, MSG)
    assert benchmark(sm2.verify, key.public_key(), MSG, sig)


def test_verify_bidkernel_crate_path(benchmark: Any, key: Any, crate_path: None) -> None:
    benchmark.group = "sm2 verify (32 B, default ID)"
    sig = sm2.sign(key, MSG)
    assert benchmark(sm2.verify, key.public_key(), MSG, sig)


@needs_lib
def test_verify_openssl_ctypes(benchmark: Any, key: Any, okeys: tuple[Any, Any]) -> None:
    benchmark.group = "sm2 verify (32 B, default ID)"
    sig = sm2.sign(key, MSG)
    assert benchmark(okeys[1].verify, MSG, sig, sm2.DEFAULT_ID)


def test_verify_gmssl(benchmark: Any, gm: Any) -> None:
    benchmark.group = "sm2 verify (32 B, default ID)"
    g, k = gm
    sig = sm2.sign(k, MSG, fmt="raw").hex()
    assert benchmark(g.verify_with_sm3, sig, MSG)


# ------------------------------------------------------------------ encrypt


def test_encrypt_bidkernel(benchmark: Any, key: Any) -> None:
    benchmark.group = "sm2 encrypt (16 B)"
    ct = benchmark(sm2.encrypt, key.public_key(), CK)
    assert sm2.decrypt(key, ct) == CK


def test_encrypt_bidkernel_crate_path(benchmark: Any, key: Any, crate_path: None) -> None:
    benchmark.group = "sm2 encrypt (16 B)"
    ct = benchmark(sm2.encrypt, key.public_key(), CK)
    assert sm2.decrypt(key, ct) == CK


@needs_lib
def test_encrypt_openssl_ctypes(benchmark: Any, key: Any, okeys: tuple[Any, Any]) -> None:
    benchmark.group = "sm2 encrypt (16 B)"
    ct = benchmark(okeys[1].encrypt, CK)
    assert sm2.decrypt(key, ct) == CK


def test_encrypt_gmssl(benchmark: Any, gm: Any) -> None:
    benchmark.group = "sm2 encrypt (16 B)"
    g, k = gm
    ct = benchmark(g.encrypt, CK)
    assert sm2.decrypt(k, b"\x04" + ct, fmt="c1c3c2") == CK


# ------------------------------------------------------------------ decrypt


def test_decrypt_bidkernel(benchmark: Any, key: Any) -> None:
    benchmark.group = "sm2 decrypt (16 B)"
    ct = sm2.encrypt(key.public_key(), CK)
    assert benchmark(sm2.decrypt, key, ct) == CK


def test_decrypt_bidkernel_crate_path(benchmark: Any, key: Any, crate_path: None) -> None:
    benchmark.group = "sm2 decrypt (16 B)"
    ct = sm2.encrypt(key.public_key(), CK)
    assert benchmark(sm2.decrypt, key, ct) == CK


@needs_lib
def test_decrypt_openssl_ctypes(benchmark: Any, key: Any, okeys: tuple[Any, Any]) -> None:
    benchmark.group = "sm2 decrypt (16 B)"
    ct = sm2.encrypt(key.public_key(), CK)
    assert benchmark(okeys[0].decrypt, ct) == CK


def test_decrypt_gmssl(benchmark: Any, gm: Any) -> None:
    benchmark.group = "sm2 decrypt (16 B)"
    g, k = gm
    ct = sm2.encrypt(k.public_key(), CK, fmt="c1c3c2")[1:]
    assert benchmark(g.decrypt, ct) == CK


# ------------------------------------------------------------------ batch, all cores


def test_batch_verify_many(benchmark: Any, key: Any) -> None:
    """verify_many over BATCH items (one call, GIL released once, rayon on all cores)."""
    benchmark.group = f"sm2 batch x{BATCH} (all {os.cpu_count()} cores)"
    items = [
        (key.public_key(), MSG + i.to_bytes(4, "big"), sm2.sign(key, MSG + i.to_bytes(4, "big"))) for i in range(BATCH)
    ]
    res = benchmark(sm2.verify_many, items)
    assert all(res) and len(res) == BATCH


def test_batch_decrypt_many(benchmark: Any, key: Any) -> None:
    """decrypt_many over BATCH wrapped 16-byte content keys with one key (the opening hot path)."""
    benchmark.group = f"sm2 batch x{BATCH} (all {os.cpu_count()} cores)"
    cts = [sm2.encrypt(key.public_key(), CK) for _ in range(BATCH)]
    res = benchmark(sm2.decrypt_many, key, cts)
    assert res == [CK] * BATCH
