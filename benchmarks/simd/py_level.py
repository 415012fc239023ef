"""Python-level SM4/SM3 throughput through ``bidkernel.crypto``: the active (SIMD) backends, the forced
portable path (a child process with ``BIDKERNEL_FORCE_PORTABLE=1``) and pyca/cryptography (OpenSSL),
measured in the same run on one core. Median of ROUNDS timed repetitions of 1 MiB calls, MB/s.

    taskset -c 0 python3 benchmarks/simd/py_level.py [SECONDS] [ROUNDS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

MIB = 1 << 20
KEY, IV, NONCE = bytes(range(16)), bytes(16), bytes(12)


def _rate(fn: Callable[[], object], nbytes: int, seconds: float) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while (el := time.perf_counter() - t0) < seconds:
        fn()
        n += 1
    return n * nbytes / el / 1e6


def _ours(seconds: float, rounds: int) -> dict[str, float]:
    from bidkernel.crypto import sm3, sm4

    data = os.urandom(MIB)
    cbc = sm4.cbc_encrypt(KEY, IV, data)
    bufs = [data[i * 1024 : (i + 1) * 1024] for i in range(1024)]
    ops: dict[str, Callable[[], object]] = {
        "SM4-CTR": lambda: sm4.ctr_encrypt(KEY, IV, data),
        "SM4-CBC decrypt": lambda: sm4.cbc_decrypt(KEY, IV, cbc),
        "SM4-GCM seal": lambda: sm4.gcm_encrypt(KEY, NONCE, data),
        "SM4-CBC encrypt": lambda: sm4.cbc_encrypt(KEY, IV, data),
        "SM3": lambda: sm3.sm3(data),
        "SM3 many (1024 x 1 KiB)": lambda: sm3.sm3_many(bufs),
    }
    return {k: statistics.median(_rate(f, MIB, seconds) for _ in range(rounds)) for k, f in ops.items()}


def _openssl(seconds: float, rounds: int) -> dict[str, float]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    data = os.urandom(MIB)

    def c(mode: modes.Mode, enc: bool = True) -> Callable[[], object]:
        def run() -> object:
            cx = Cipher(algorithms.SM4(KEY), mode)
            o = cx.encryptor() if enc else cx.decryptor()
            return o.update(data)

        return run

    def h() -> object:
        d = hashes.Hash(hashes.SM3())
        d.update(data)
        return d.finalize()

    ops = {
        "SM4-CTR": c(modes.CTR(IV)),
        "SM4-CBC decrypt": c(modes.CBC(IV), enc=False),
        "SM4-GCM seal": c(modes.GCM(NONCE)),
        "SM4-CBC encrypt": c(modes.CBC(IV)),
        "SM3": h,
    }
    out = {}
    for k, f in ops.items():
        try:
            out[k] = statistics.median(_rate(f, MIB, seconds) for _ in range(rounds))
        except Exception:  # an OpenSSL build without the mode: no figure
            out[k] = float("nan")
    return out


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if os.environ.get("_PY_LEVEL_CHILD"):
        print(json.dumps(_ours(seconds, rounds)))
        return
    from bidkernel import _native

    env = dict(os.environ, BIDKERNEL_FORCE_PORTABLE="1", _PY_LEVEL_CHILD="1")
    fast = _ours(seconds, rounds)
    ossl = _openssl(seconds, rounds)
    cmd = [sys.executable, __file__, str(seconds), str(rounds)]
    child = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    port = json.loads(child.stdout)
    print(f"backends: {_native.crypto_backends()}")
    print(
        "| operation (1 MiB, one core) | bidkernel fast MB/s | forced portable MB/s"
        " | cryptography (OpenSSL) MB/s | fast / portable | fast / OpenSSL |"
    )
    print("|---|---|---|---|---|---|")
    for k in fast:
        o = ossl.get(k, float("nan"))
        print(f"| {k} | {fast[k]:,.0f} | {port[k]:,.0f} | {o:,.0f} | {fast[k] / port[k]:.2f}x | {fast[k] / o:.2f}x |")


if __name__ == "__main__":
    main()
