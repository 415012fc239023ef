#!/usr/bin/env python3
"""Scaling of the native batch entry points from one core to two: ``sm2.verify_many``,
``sm2.decrypt_many`` (content-key unwrap) and ``sm4.decrypt_batch`` (GCM, 1 MiB items), each run in
a child process with ``RAYON_NUM_THREADS=1`` and ``=2`` (rayon sizes its pool once per process),
alternating 1, 2, 1, 2 ... so that both settings see the same machine. The machine is shared: the
load average is printed beside every child, and the speed-up is reported per round and as the ratio
of the medians.

    python benchmarks/batch_scaling.py [ROUNDS] [SECONDS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

N_SM2 = 2000
N_SM4 = 64
MIB = 1 << 20


def _child(seconds: float) -> dict[str, float]:
    from bidkernel.crypto import sm2, sm4

    key = sm2.generate_private_key()
    pub = key.public_key()
    msgs = [os.urandom(32) for _ in range(N_SM2)]
    sigs = [(pub, m, sm2.sign(key, m)) for m in msgs]
    cts = [sm2.encrypt(pub, os.urandom(16)) for _ in range(N_SM2)]
    k, iv = os.urandom(16), os.urandom(12)
    sealed = [sm4.gcm_encrypt(k, iv, os.urandom(MIB)) for _ in range(N_SM4)]
    items = [sm4.DecryptItem(key=k, mode="gcm", iv=iv, data=c, tag=t) for c, t in sealed]

    def rate(fn: object, units: int) -> float:
        assert callable(fn)
        fn()  # warm-up: thread pool, tables
        n, t0 = 0, time.perf_counter()
        while (el := time.perf_counter() - t0) < seconds or n == 0:
            fn()
            n += 1
        return n * units / el

    assert all(sm2.verify_many(sigs))
    return {
        "verify_many (ops/s)": rate(lambda: sm2.verify_many(sigs), N_SM2),
        "decrypt_many (ops/s)": rate(lambda: sm2.decrypt_many(key, cts), N_SM2),
        "sm4 decrypt_batch GCM (MB/s)": rate(lambda: sm4.decrypt_batch(items), N_SM4 * MIB) / 1e6,
    }


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    if os.environ.get("_BATCH_SCALING_CHILD"):
        print(json.dumps(_child(seconds)))
        return
    print(f"date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  cpus: {os.cpu_count()}  rounds: {rounds}")
    results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for r in range(rounds):
        for threads in (1, 2):
            env = dict(os.environ, RAYON_NUM_THREADS=str(threads), _BATCH_SCALING_CHILD="1")
            load0 = os.getloadavg()[0]
            cmd = [sys.executable, __file__, str(rounds), str(seconds)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            res = json.loads(out.stdout)
            results[threads].append(res)
            figures = ", ".join(f"{k} {v:,.0f}" for k, v in res.items())
            load1 = os.getloadavg()[0]
            print(f"round {r + 1} threads {threads}: load {load0:.2f} -> {load1:.2f}: {figures}", flush=True)
    print()
    print("| call | 1 thread (median) | 2 threads (median) | speed-up of medians | speed-up per round |")
    print("|---|---|---|---|---|")
    for k in results[1][0]:
        one = statistics.median(x[k] for x in results[1])
        two = statistics.median(x[k] for x in results[2])
        per = " ".join(f"{b[k] / a[k]:.2f}x" for a, b in zip(results[1], results[2], strict=True))
        print(f"| {k} | {one:,.0f} | {two:,.0f} | {two / one:.2f}x | {per} |")


if __name__ == "__main__":
    main()
