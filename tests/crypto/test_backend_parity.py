"""Issue 4: the SIMD SM4/SM3 paths and the forced portable paths give identical outputs.

The same seeded workload runs in two fresh interpreters, one with ``BIDKERNEL_FORCE_PORTABLE=1``; each
reports its active backends and the hex of every output, and the two reports must agree byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bidkernel import _native

_WORKLOAD = r"""
import json, random
from bidkernel import _native
from bidkernel.crypto import sm3, sm4

rng = random.Random(4)
out = {"backends": _native.crypto_backends(), "forced": _native.portable_forced(), "results": []}
res = out["results"]
sizes = [0, 1, 15, 16, 17, 63, 64, 65, 1023, 1024, 4096 + 5, 70000, 300001]
for n in sizes:
    key, iv, nonce = rng.randbytes(16), rng.randbytes(16), rng.randbytes(12)
    data, aad = rng.randbytes(n), rng.randbytes(rng.randrange(0, 40))
    res.append(sm4.ctr_encrypt(key, iv, data).hex())
    res.append(sm4.ctr_encrypt(key, b"\xff" * 15 + b"\xfd", data).hex())  # 128-bit counter wrap
    ct = sm4.cbc_encrypt(key, iv, data)
    res.append(ct.hex())
    res.append(sm4.cbc_decrypt(key, iv, ct).hex())
    c, t = sm4.gcm_encrypt(key, nonce, data, aad=aad)
    res.append(c.hex() + t.hex())
    res.append(sm4.gcm_decrypt(key, nonce, c, t, aad=aad).hex())
    long_iv = rng.randbytes(rng.randrange(1, 64))  # J0 from GHASH: arbitrary low 32 bits
    c2, t2 = sm4.gcm_encrypt(key, long_iv, data, aad=aad)
    res.append(c2.hex() + t2.hex())
    # streaming at odd split points
    cuts = sorted(rng.randrange(0, n + 1) for _ in range(3))
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, n])]
    s = sm4.ctr_stream(key, iv)
    res.append(b"".join(s.update(p) for p in parts).hex())
    e = sm4.cbc_encryptor(key, iv)
    res.append((b"".join(e.update(p) for p in parts) + e.finalize()).hex())
    d = sm4.cbc_decryptor(key, iv)
    cparts = [ct[a:b] for a, b in zip([0, *cuts], [*cuts, len(ct)])]
    res.append((b"".join(d.update(p) for p in cparts) + d.finalize()).hex())
    g = sm4.gcm_encryptor(key, long_iv)
    g.update_aad(aad)
    res.append((b"".join(g.update(p) for p in parts) + g.finalize()).hex())
    if n % 16 == 0:
        res.append(sm4.encrypt_block(key, data[:16]).hex() if n else "")
    res.append(sm3.sm3(data).hex())
    h = sm3.Sm3Hash()
    for p in parts:
        h.update(p)
    res.append(h.hexdigest())
bufs = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(200)]
res.append([d.hex() for d in sm3.sm3_many(bufs)])
# a wrong tag fails on both paths alike
key, nonce = rng.randbytes(16), rng.randbytes(12)
c, t = sm4.gcm_encrypt(key, nonce, b"x" * 100)
try:
    sm4.gcm_decrypt(key, nonce, c, bytes([t[0] ^ 1]) + t[1:])
    res.append("accepted")
except Exception as exc:
    res.append(type(exc).__name__)
print(json.dumps(out))
"""


def _run(force: bool) -> dict[str, object]:
    env = dict(os.environ)
    env.pop("BIDKERNEL_FORCE_PORTABLE", None)
    if force:
        env["BIDKERNEL_FORCE_PORTABLE"] = "1"
    proc = subprocess.run([sys.executable, "-c", _WORKLOAD], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_forced_portable_reports_portable_and_matches_fast_path() -> None:
    portable = _run(force=True)
    assert portable["forced"] is True
    assert portable["backends"] == {"sm4": "portable", "sm3": "scalar", "sm3_multi": "serial"}
    fast = _run(force=False)
    assert fast["forced"] is False
    assert set(fast["backends"]) == {"sm4", "sm3", "sm3_multi"}  # type: ignore[arg-type]
    assert fast["results"] == portable["results"]
    assert portable["results"][-1] == "InvalidTag"  # type: ignore[index]


def test_this_process_reports_its_backends() -> None:
    backends = _native.crypto_backends()
    if _native.portable_forced():
        assert backends["sm4"] == "portable"
        assert backends["sm3_multi"] == "serial"
    else:
        simd = {n for n, present in _native.cpu_features() if present}
        if {"avx512f", "avx512bw", "avx512vl", "gfni"} <= simd:
            assert backends["sm4"] == "avx512-gfni"
        elif {"aes", "avx2"} <= simd:
            assert backends["sm4"] == "aesni-avx2"
        if {"avx512f", "avx512vl", "bmi1", "bmi2"} <= simd:
            assert backends["sm3"] == "asm-bmi2-avx512vl"
        elif {"avx2", "bmi1", "bmi2"} <= simd:
            assert backends["sm3"] == "asm-bmi2-avx"
