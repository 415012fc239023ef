"""SM3 / SM4 throughput table: bidkernel vs its anchors, measured side by side in one run.

    python benchmarks/symm_speed.py [--seconds 0.3] [--markdown]

Single-core figures run pinned to one CPU (this process via sched_setaffinity, `openssl speed` via
taskset); every operation is timed in three alternating rounds (bidkernel, cryptography, `openssl
speed`, bidkernel, ...) and each side's median is reported, so load from other processes hits all
sides alike. Anchors:

* ``openssl speed -evp`` of the system OpenSSL (the issue's "OpenSSL 3.0" floor; it divides by
  user CPU time, so single-core rows here use this thread's CPU time too),
* pyca/cryptography (its bundled OpenSSL) on the same 1 MiB buffers,
* pure-Python ``gmssl`` on a 16 KiB buffer (it is ~1000x slower; MB/s are comparable).

Batch rows run on all cores and compare with a one-core loop over the same items.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.backends.openssl import backend as ossl_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bidkernel.crypto import sm3 as bk_sm3
from bidkernel.crypto import sm4 as bk_sm4

MIB = 1 << 20
KEY = bytes(range(16))
IV = bytes(range(16, 32))
IV12 = IV[:12]


def rate(f: Callable[[], Any], nbytes: int, secs: float, clock: Callable[[], float]) -> float:
    """MB/s of one timed repetition of about `secs` seconds of `clock`."""
    f()
    n = 0
    start = clock()
    while True:
        f()
        n += 1
        el = clock() - start
        if el >= secs:
            return n * nbytes / el / 1e6


def side_by_side(
    fs: list[tuple[Callable[[], Any], int]],
    secs: float,
    reps: int = 3,
    clock: Callable[[], float] = time.thread_time,
) -> list[float]:
    """Median MB/s of each function over `reps` alternating repetitions. The default clock is this
    thread's CPU time, the measure `openssl speed` uses (user CPU time), so other processes on the
    machine do not bias one side."""
    runs: list[list[float]] = [[] for _ in fs]
    for _ in range(reps):
        for i, (f, nb) in enumerate(fs):
            runs[i].append(rate(f, nb, secs, clock))
    return [statistics.median(r) for r in runs]


def cpu_per_wall(f: Callable[[], Any]) -> float:
    """Process CPU seconds per wall second while `f` runs: ~N when N cores worked on it."""
    c0, w0 = time.process_time(), time.perf_counter()
    f()
    return (time.process_time() - c0) / (time.perf_counter() - w0)


def openssl_speed(evp: str, decrypt: bool = False) -> float | None:
    """MB/s of `openssl speed -evp EVP` (or `-hmac DIGEST` for "hmac-DIGEST") on 1 MiB buffers."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    alg = ["-hmac", evp.removeprefix("hmac-")] if evp.startswith("hmac-") else ["-evp", evp]
    cmd = [exe, "speed", "-seconds", "1", "-bytes", str(MIB), *alg]
    if decrypt:
        cmd.insert(2, "-decrypt")
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    if res.returncode != 0 or not lines:
        return None
    m = re.search(r"([\d.]+)k\s*$", lines[-1])
    return float(m.group(1)) * 1000 / 1e6 if m else None


def openssl_version() -> str:
    exe = shutil.which("openssl")
    if exe is None:
        return "absent"
    return subprocess.run([exe, "version"], capture_output=True, text=True, check=False).stdout.strip()


def _ossl(mode: Any, decrypt: bool = False) -> Callable[[bytes], bytes]:
    def run(d: bytes) -> bytes:
        c = Cipher(algorithms.SM4(KEY), mode)
        ctx = c.decryptor() if decrypt else c.encryptor()
        return ctx.update(d) + ctx.finalize()

    return run


def _ossl_sm3(d: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(d)
    return h.finalize()


def _ossl_hmac(d: bytes) -> bytes:
    h = c_hmac.HMAC(KEY, hashes.SM3())
    h.update(d)
    return h.finalize()


def _gmssl() -> dict[str, Callable[[bytes], Any]] | None:
    try:
        from gmssl import func, sm3, sm4  # type: ignore[import-untyped]  # benchmark baseline only
    except ImportError:
        return None
    # gmssl 3.2.2's crypt_cbc always applies / removes PKCS#7 padding.
    enc = sm4.CryptSM4(sm4.SM4_ENCRYPT)
    enc.set_key(KEY, sm4.SM4_ENCRYPT)
    dec = sm4.CryptSM4(sm4.SM4_DECRYPT)
    dec.set_key(KEY, sm4.SM4_DECRYPT)
    return {
        "sm3": lambda d: sm3.sm3_hash(func.bytes_to_list(d)),
        "cbc-enc": lambda d: enc.crypt_cbc(IV, d),
        "cbc-dec": lambda d: dec.crypt_cbc(IV, d),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=0.3, help="length of one timed repetition")
    ap.add_argument("--items", type=int, default=64, help="items in the batch rows (1 MiB each)")
    args = ap.parse_args()
    secs = args.seconds

    all_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(all_cpus)})
    data = os.urandom(MIB)
    small = data[: 16 * 1024]
    cbc_ct = bk_sm4.cbc_encrypt(KEY, IV, data, padding=False)
    gm = _gmssl()

    ops: list[tuple[str, Callable[[], Any], Callable[[], Any], str | None, bool, str | None]] = [
        ("SM3", lambda: bk_sm3.sm3(data), lambda: _ossl_sm3(data), "sm3", False, "sm3"),
        ("HMAC-SM3", lambda: bk_sm3.hmac_sm3(KEY, data), lambda: _ossl_hmac(data), "hmac-sm3", False, None),
        (
            "SM4-CBC encrypt",
            lambda: bk_sm4.cbc_encrypt(KEY, IV, data, padding=False),
            lambda: _ossl(modes.CBC(IV))(data),
            "sm4-cbc",
            False,
            "cbc-enc",
        ),
        (
            "SM4-CBC decrypt",
            lambda: bk_sm4.cbc_decrypt(KEY, IV, cbc_ct, padding=False),
            lambda: _ossl(modes.CBC(IV), decrypt=True)(cbc_ct),
            "sm4-cbc",
            True,
            "cbc-dec",
        ),
        (
            "SM4-CTR",
            lambda: bk_sm4.ctr_encrypt(KEY, IV, data),
            lambda: _ossl(modes.CTR(IV))(data),
            "sm4-ctr",
            False,
            None,
        ),
        (
            "SM4-GCM encrypt",
            lambda: bk_sm4.gcm_encrypt(KEY, IV12, data),
            lambda: _ossl(modes.GCM(IV12))(data),
            "sm4-gcm",
            False,
            None,
        ),
    ]
    cpu = platform.processor() or platform.machine()
    print(f"# {cpu}, {os.cpu_count()} CPUs; single-core rows pinned to CPU {min(all_cpus)}")
    print(f"# system {openssl_version()}; cryptography bundles {ossl_backend.openssl_version_text()}")
    print()
    print(
        "| operation (1 MiB buffers, one core) | bidkernel MB/s | openssl speed MB/s | x openssl "
        "| cryptography MB/s | x cryptography | gmssl MB/s (16 KiB) | x gmssl |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, ours, theirs, evp, dec, gkey in ops:
        # Alternate bidkernel, cryptography and `openssl speed` three times; report each median.
        runs: list[list[float]] = [[], [], []]
        for _ in range(3):
            r_ours, r_theirs = side_by_side([(ours, MIB), (theirs, MIB)], secs, reps=1)
            runs[0].append(r_ours)
            runs[1].append(r_theirs)
            o = openssl_speed(evp, dec) if evp else None
            if o is not None:
                runs[2].append(o)
        ours_r, crypt_r = statistics.median(runs[0]), statistics.median(runs[1])
        ossl_r = statistics.median(runs[2]) if runs[2] else None
        gm_r = None
        if gm is not None and gkey is not None:
            g = gm[gkey]
            src = small if gkey != "cbc-dec" else bk_sm4.cbc_encrypt(KEY, IV, small)
            gm_r = side_by_side([(lambda: g(src), len(src))], secs, reps=1)[0]

        def fmt(x: float | None) -> str:
            return f"{x:,.0f}" if x is not None and x >= 10 else (f"{x:.3f}" if x is not None else "n/a")

        def ratio(x: float | None) -> str:
            return f"{ours_r / x:,.2f}x" if x else "n/a"

        print(
            f"| {name} | {fmt(ours_r)} | {fmt(ossl_r)} | {ratio(ossl_r)} | {fmt(crypt_r)} | {ratio(crypt_r)} "
            f"| {fmt(gm_r)} | {ratio(gm_r).replace('.00x', 'x') if gm_r else 'n/a'} |"
        )

    # Batch rows: all cores vs one core, same items.
    os.sched_setaffinity(0, all_cpus)
    n = args.items
    bufs = [os.urandom(MIB) for _ in range(n)]
    items = []
    for buf in bufs:
        ct, tag = bk_sm4.gcm_encrypt(KEY, IV12, buf)
        items.append(bk_sm4.DecryptItem(key=KEY, mode="gcm", iv=IV12, data=ct + tag))
    total = n * MIB
    batch_sm3, loop_sm3 = side_by_side(
        [(lambda: bk_sm3.sm3_many(bufs), total), (lambda: [bk_sm3.sm3(b) for b in bufs], total)],
        secs,
        clock=time.perf_counter,
    )
    batch_gcm, loop_gcm = side_by_side(
        [
            (lambda: bk_sm4.decrypt_batch(items), total),
            (lambda: [bk_sm4.gcm_decrypt(KEY, IV12, i.data[:-16], i.data[-16:]) for i in items if i.data], total),
        ],
        secs,
        clock=time.perf_counter,
    )
    print()
    load = os.getloadavg()[0]
    print(
        f"| batch ({n} x 1 MiB, {len(all_cpus)} cores, wall clock; load avg {load:.1f}) "
        "| batch MB/s | one-core loop MB/s | scaling | CPU-s per wall-s in the batch |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, f, b, lp in (
        ("SM3 sm3_many", lambda: bk_sm3.sm3_many(bufs), batch_sm3, loop_sm3),
        ("SM4-GCM decrypt_batch", lambda: bk_sm4.decrypt_batch(items), batch_gcm, loop_gcm),
    ):
        print(f"| {name} | {b:,.0f} | {lp:,.0f} | {b / lp:.2f}x | {cpu_per_wall(f):.2f} |")


if __name__ == "__main__":
    main()
