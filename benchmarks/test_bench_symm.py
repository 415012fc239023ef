"""SM3 / SM4 micro-benchmarks: bidkernel vs pyca/cryptography (OpenSSL) vs pure-Python gmssl.

Run:  python -m pytest benchmarks/test_bench_symm.py --benchmark-enable --benchmark-group-by=group
CI runs it with --benchmark-disable as a smoke test (each function once, results still checked).
The table in docs/performance.md comes from benchmarks/symm_speed.py, which also quotes
`openssl speed` from the same run. gmssl runs on a 16 KiB buffer (it is ~1000x slower); compare
MB/s, not times, across buffer sizes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bidkernel.crypto import sm3 as bk_sm3
from bidkernel.crypto import sm4 as bk_sm4

MIB = 1 << 20
KEY = bytes(range(16))
IV = bytes(range(16, 32))
IV12 = IV[:12]
DATA = os.urandom(MIB)
SMALL = DATA[: 16 * 1024]


def _ossl_cipher(mode: Any, data: bytes, decrypt: bool = False) -> bytes:
    c = Cipher(algorithms.SM4(KEY), mode)
    ctx = c.decryptor() if decrypt else c.encryptor()
    return ctx.update(data) + ctx.finalize()


def _ossl_sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _ossl_gcm(data: bytes) -> bytes:
    e = Cipher(algorithms.SM4(KEY), modes.GCM(IV12)).encryptor()
    return e.update(data) + e.finalize() + e.tag


def _mbps(benchmark: Any, nbytes: int) -> None:
    benchmark.extra_info["bytes"] = nbytes


# ---------------------------------------------------------------- SM3


def test_sm3_bidkernel(benchmark: Any) -> None:
    benchmark.group = "SM3 1 MiB"
    _mbps(benchmark, MIB)
    assert benchmark(bk_sm3.sm3, DATA) == _ossl_sm3(DATA)


def test_sm3_cryptography(benchmark: Any) -> None:
    benchmark.group = "SM3 1 MiB"
    _mbps(benchmark, MIB)
    assert benchmark(_ossl_sm3, DATA) == bk_sm3.sm3(DATA)


def test_sm3_gmssl_16k(benchmark: Any) -> None:
    from gmssl import func, sm3

    benchmark.group = "SM3 gmssl 16 KiB"
    _mbps(benchmark, len(SMALL))
    assert benchmark(lambda: sm3.sm3_hash(func.bytes_to_list(SMALL))) == bk_sm3.sm3(SMALL).hex()


def test_hmac_sm3_bidkernel(benchmark: Any) -> None:
    benchmark.group = "HMAC-SM3 1 MiB"
    _mbps(benchmark, MIB)
    tag = benchmark(bk_sm3.hmac_sm3, KEY, DATA)
    assert bk_sm3.hmac_sm3_verify(KEY, DATA, tag)


# ---------------------------------------------------------------- SM4

CBC_CT = bk_sm4.cbc_encrypt(KEY, IV, DATA, padding=False)

CASES = {
    "CBC encrypt": (
        lambda: bk_sm4.cbc_encrypt(KEY, IV, DATA, padding=False),
        lambda: _ossl_cipher(modes.CBC(IV), DATA),
    ),
    "CBC decrypt": (
        lambda: bk_sm4.cbc_decrypt(KEY, IV, CBC_CT, padding=False),
        lambda: _ossl_cipher(modes.CBC(IV), CBC_CT, decrypt=True),
    ),
    "CTR": (lambda: bk_sm4.ctr_encrypt(KEY, IV, DATA), lambda: _ossl_cipher(modes.CTR(IV), DATA)),
    "GCM encrypt": (
        lambda: b"".join(bk_sm4.gcm_encrypt(KEY, IV12, DATA)),
        lambda: _ossl_gcm(DATA),
    ),
}


@pytest.mark.parametrize("op", list(CASES))
def test_sm4_bidkernel(benchmark: Any, op: str) -> None:
    ours, ref = CASES[op]
    benchmark.group = f"SM4 {op} 1 MiB"
    _mbps(benchmark, MIB)
    assert benchmark(ours) == ref()


@pytest.mark.parametrize("op", list(CASES))
def test_sm4_cryptography(benchmark: Any, op: str) -> None:
    ours, ref = CASES[op]
    benchmark.group = f"SM4 {op} 1 MiB"
    _mbps(benchmark, MIB)
    assert benchmark(ref) == ours()


@pytest.mark.parametrize("decrypt", [False, True], ids=["encrypt", "decrypt"])
def test_sm4_cbc_gmssl_16k(benchmark: Any, decrypt: bool) -> None:
    from gmssl import sm4

    # gmssl 3.2.2's crypt_cbc always applies / removes PKCS#7 padding.
    c = sm4.CryptSM4(sm4.SM4_DECRYPT if decrypt else sm4.SM4_ENCRYPT)
    c.set_key(KEY, sm4.SM4_DECRYPT if decrypt else sm4.SM4_ENCRYPT)
    src = bk_sm4.cbc_encrypt(KEY, IV, SMALL) if decrypt else SMALL
    benchmark.group = f"SM4 CBC {'decrypt' if decrypt else 'encrypt'} gmssl 16 KiB"
    _mbps(benchmark, len(SMALL))
    out = benchmark(c.crypt_cbc, IV, src)
    assert out == (SMALL if decrypt else bk_sm4.cbc_encrypt(KEY, IV, SMALL))


# ---------------------------------------------------------------- batch (all cores)

BATCH = [os.urandom(256 * 1024) for _ in range(32)]
GCM_ITEMS = [
    bk_sm4.DecryptItem(key=KEY, mode="gcm", iv=IV12, data=b"".join(bk_sm4.gcm_encrypt(KEY, IV12, b))) for b in BATCH
]


def test_batch_sm3_many(benchmark: Any) -> None:
    benchmark.group = "batch 32 x 256 KiB"
    _mbps(benchmark, 32 * 256 * 1024)
    assert benchmark(bk_sm3.sm3_many, BATCH) == [_ossl_sm3(b) for b in BATCH]


def test_batch_sm4_gcm_decrypt(benchmark: Any) -> None:
    benchmark.group = "batch 32 x 256 KiB"
    _mbps(benchmark, 32 * 256 * 1024)
    assert benchmark(bk_sm4.decrypt_batch, GCM_ITEMS) == BATCH


def test_batch_sm4_gcm_one_core_loop(benchmark: Any) -> None:
    benchmark.group = "batch 32 x 256 KiB"
    _mbps(benchmark, 32 * 256 * 1024)

    def loop() -> list[bytes]:
        return [bk_sm4.gcm_decrypt(KEY, IV12, i.data[:-16], i.data[-16:]) for i in GCM_ITEMS if i.data]

    assert benchmark(loop) == BATCH
