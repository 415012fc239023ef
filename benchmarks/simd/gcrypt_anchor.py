#!/usr/bin/env python3
"""libgcrypt anchor through ctypes, with the same metrics as native/examples/bench_symm.rs.

Prints, per operation on a 1 MiB buffer: the median of three timed repetitions (MB/s) and the
fastest single call ("best", least disturbed by other processes on a shared core).

    taskset -c 0 python3 benchmarks/simd/gcrypt_anchor.py [SECONDS_PER_REP]

Needs the libgcrypt20 shared library (Debian: libgcrypt20); nothing is built or vendored.
"""

import ctypes
import ctypes.util
import sys
import time

GCRY_MD_SM3 = 326
GCRY_CIPHER_SM4 = 318
MODE_ECB, MODE_CBC, MODE_CTR, MODE_GCM = 1, 3, 6, 9
GCRYCTL_INITIALIZATION_FINISHED = 38


def load():
    name = ctypes.util.find_library("gcrypt") or "libgcrypt.so.20"
    lib = ctypes.CDLL(name)
    lib.gcry_check_version.restype = ctypes.c_char_p
    lib.gcry_check_version.argtypes = [ctypes.c_char_p]
    ver = lib.gcry_check_version(None).decode()
    lib.gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0)
    return lib, ver


def bench(label, nbytes, rep, fn):
    fn()
    reps, best = [], float("inf")
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while True:
            t1 = time.perf_counter()
            fn()
            t2 = time.perf_counter()
            best = min(best, t2 - t1)
            n += 1
            if t2 - t0 >= rep:
                break
        reps.append(n * nbytes / (t2 - t0) / 1e6)
    med = sorted(reps)[1]
    print(
        f"{label:<28} {'libgcrypt':<22} MB/s median={med:>8.1f} best={nbytes / best / 1e6:>8.1f}  "
        f"reps=[{reps[0]:.1f} {reps[1]:.1f} {reps[2]:.1f}]",
        flush=True,
    )
    return med


def main():
    rep = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    lib, ver = load()
    print(f"libgcrypt {ver}")
    n = 1 << 20
    buf = ctypes.create_string_buffer(bytes((i * 131 + 7) & 0xFF for i in range(n)), n)
    digest = ctypes.create_string_buffer(32)
    key, iv, tag = bytes(16), ctypes.create_string_buffer(16), ctypes.create_string_buffer(16)
    c_void_p = ctypes.c_void_p

    def cipher(mode):
        h = c_void_p()
        err = lib.gcry_cipher_open(ctypes.byref(h), GCRY_CIPHER_SM4, mode, 0)
        assert err == 0, f"gcry_cipher_open: {err}"
        assert lib.gcry_cipher_setkey(h, key, 16) == 0
        return h

    bench("SM4-ECB enc 1MiB", n, rep, lambda h=cipher(MODE_ECB): lib.gcry_cipher_encrypt(h, buf, n, None, 0))
    h = cipher(MODE_CTR)

    def ctr():
        lib.gcry_cipher_setctr(h, iv, 16)
        lib.gcry_cipher_encrypt(h, buf, n, None, 0)

    bench("SM4-CTR 1MiB", n, rep, ctr)
    g = cipher(MODE_GCM)

    def gcm():
        lib.gcry_cipher_setiv(g, iv, 12)
        lib.gcry_cipher_encrypt(g, buf, n, None, 0)
        lib.gcry_cipher_gettag(g, tag, 16)

    bench("SM4-GCM seal 1MiB", n, rep, gcm)
    c = cipher(MODE_CBC)

    def cbc(decrypt):
        lib.gcry_cipher_setiv(c, iv, 16)
        (lib.gcry_cipher_decrypt if decrypt else lib.gcry_cipher_encrypt)(c, buf, n, None, 0)

    bench("SM4-CBC dec 1MiB", n, rep, lambda: cbc(True))
    bench("SM4-CBC enc 1MiB", n, rep, lambda: cbc(False))
    bench("SM3 1MiB", n, rep, lambda: lib.gcry_md_hash_buffer(GCRY_MD_SM3, digest, buf, n))


if __name__ == "__main__":
    main()
