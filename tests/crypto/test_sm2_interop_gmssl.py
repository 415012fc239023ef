"""Differential tests bidkernel <-> the pure-Python PyPI ``gmssl`` 3.2.2 (test oracle only).

gmssl conventions and the conversions done here:

* keys are hex strings: the private scalar (64 hex digits) and the public point x||y WITHOUT the
  04 prefix. gmssl strips a leading "04" with ``str.lstrip("04")``, which also eats leading 0 and 4
  digits of x; keys whose x starts with hex digit 0 or 4 are therefore regenerated (a gmssl bug);
* signatures are raw r||s hex over SM3(Z || M) with the fixed ID "1234567812345678" (the only ID
  gmssl supports), so only the GM/T 0009 default ID is covered here;
* ciphertexts are raw C1||C2||C3 (mode=0, default) or C1||C3||C2 (mode=1), C1 = x||y without 04.

Counts: 10,000 sign->verify cases (each both directions: bidkernel signs / gmssl verifies and gmssl
signs / bidkernel verifies) and 10,000 encrypt->decrypt cases (each both directions, alternating
gmssl's C1C2C3 and C1C3C2 modes): 40,000 gmssl operations. gmssl does ~100 SM2 operations per
second, so the cases are split over one forked worker per core, each with its own seed-derived
stream. ``BIDKERNEL_SM2_GMSSL_CASES`` overrides the count (e.g. for a quick local run).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from bidkernel.crypto import sm2

gmssl_sm2 = pytest.importorskip("gmssl.sm2")

CASES = int(os.environ.get("BIDKERNEL_SM2_GMSSL_CASES", "10000"))
WORKERS = max(1, min(4, os.cpu_count() or 1))


def _forked(run: Callable[[int, int, int], list[str]]) -> list[str]:
    """Run ``run(worker, start, stop)`` over CASES split across forked workers; gather their failures.

    Forked children only make single native calls (no rayon batch), so forking a process that holds
    the native thread pool is safe; a child that dies reports as a failure instead of passing silently.
    """
    bounds = [(w, CASES * w // WORKERS, CASES * (w + 1) // WORKERS) for w in range(WORKERS)]
    with tempfile.TemporaryDirectory() as tmp:
        pids = []
        for w, start, stop in bounds:
            pid = os.fork()
            if pid == 0:  # child
                code = 1
                try:
                    try:
                        out = run(w, start, stop)
                    except BaseException:  # report the child's exception instead of dying silently
                        out = [f"worker {w} raised: {traceback.format_exc()}"]
                    with open(os.path.join(tmp, f"{w}.json"), "w") as f:
                        json.dump({"failures": out, "done": stop - start}, f)
                    code = 0
                finally:
                    os._exit(code)
            pids.append(pid)
        failures: list[str] = []
        done = 0
        for (w, _, _), pid in zip(bounds, pids, strict=True):
            _, status = os.waitpid(pid, 0)
            path = os.path.join(tmp, f"{w}.json")
            if status != 0 or not os.path.exists(path):
                failures.append(f"worker {w} died (status {status})")
                continue
            with open(path) as f:
                res = json.load(f)
            failures += res["failures"]
            done += res["done"]
    if done != CASES and not failures:
        failures.append(f"only {done} of {CASES} cases ran")
    return failures


SEED = int(os.environ.get("BIDKERNEL_SM2_DIFF_SEED", "20261123"))


def _scalar_hex(key: sm2.PrivateKey) -> str:
    der = key.to_sec1(pem=False)  # ECPrivateKey: 30 77 02 01 01 04 20 <32-byte d> ...
    assert der[5:7] == b"\x04\x20"
    return der[7:39].hex()


def _gm_key() -> tuple[sm2.PrivateKey, str, str]:
    while True:
        key = sm2.generate_private_key()
        xy = key.public_key()[1:].hex()
        if xy[0] not in "04":
            return key, _scalar_hex(key), xy


def _sign_verify(worker: int, start: int, stop: int) -> list[str]:
    rng = random.Random(SEED + 10 + 1000 * worker)
    failures: list[str] = []
    key, d_hex, xy = _gm_key()
    gm = gmssl_sm2.CryptSM2(private_key=d_hex, public_key=xy)
    for i in range(start, stop):
        if i % 25 == 0 and i > start:
            key, d_hex, xy = _gm_key()
            gm = gmssl_sm2.CryptSM2(private_key=d_hex, public_key=xy)
        msg = rng.randbytes(rng.randrange(0, 200))
        ours = sm2.sign(key, msg, fmt="raw")
        if not gm.verify_with_sm3(ours.hex(), msg):
            failures.append(f"case {i}: gmssl rejected our signature")
        theirs = bytes.fromhex(gm.sign_with_sm3(msg).rjust(128, "0"))
        if not sm2.verify(key.public_key(), msg, theirs, fmt="raw"):
            failures.append(f"case {i}: we rejected gmssl's signature")
        if i % 50 == 0 and sm2.verify(key.public_key(), msg + b"x", theirs, fmt="raw"):
            failures.append(f"case {i}: we accepted gmssl's signature on another message")
    return failures


def test_gmssl_sign_verify_both_directions() -> None:
    failures = _forked(_sign_verify)
    assert not failures, (SEED, failures[:10], len(failures))


def _encrypt_decrypt(worker: int, start: int, stop: int) -> list[str]:
    rng = random.Random(SEED + 11 + 1000 * worker)
    failures: list[str] = []
    key, d_hex, xy = _gm_key()
    gms = {m: gmssl_sm2.CryptSM2(private_key=d_hex, public_key=xy, mode=m) for m in (0, 1)}
    for i in range(start, stop):
        if i % 25 == 0 and i > start:
            key, d_hex, xy = _gm_key()
            gms = {m: gmssl_sm2.CryptSM2(private_key=d_hex, public_key=xy, mode=m) for m in (0, 1)}
        mode = i % 2
        fmt: sm2.CipherFormat = "c1c3c2" if mode else "c1c2c3"
        gm = gms[mode]
        msg = rng.randbytes(rng.randrange(1, 300))
        ours = sm2.encrypt(key.public_key(), msg, fmt=fmt)
        assert ours[0] == 4
        if gm.decrypt(ours[1:]) != msg:
            failures.append(f"case {i}: gmssl could not decrypt our {fmt} ciphertext")
        theirs = b"\x04" + _gmssl_encrypt(gm, msg)
        try:
            if sm2.decrypt(key, theirs, fmt=fmt) != msg:
                failures.append(f"case {i}: wrong plaintext from gmssl's {fmt} ciphertext")
            der = sm2.convert_ciphertext(theirs, fmt, "der")
            if i % 10 == 0 and sm2.decrypt(key, der) != msg:
                failures.append(f"case {i}: converted DER ciphertext does not decrypt")
        except sm2.Sm2DecryptionError as exc:
            # gmssl never redraws k when the KDF output t is all zero (a 1-byte message: p = 1/256), so its
            # C2 is then the message itself; refusing that is GB/T 32918.4 §7.1 B4, not a disagreement.
            c2 = theirs[97:] if fmt == "c1c3c2" else theirs[65 : 65 + len(msg)]
            if not (exc.reason == "integrity" and c2 == msg and len(msg) <= 2):
                failures.append(f"case {i}: we rejected gmssl's {fmt} ciphertext ({exc.reason})")
    return failures


def _gmssl_encrypt(gm: Any, msg: bytes) -> bytes:
    """gmssl's encryption, retried as GB/T 32918.4 §6.1 A5 prescribes: when the KDF output t is all zero
    (for a 1-byte message 1 time in 256) the encryptor must pick a new k — gmssl returns None instead."""
    for _ in range(64):
        ct = gm.encrypt(msg)
        if ct is not None:
            return bytes(ct)
    raise AssertionError("gmssl gave no ciphertext in 64 tries")


def test_gmssl_encrypt_decrypt_both_directions() -> None:
    failures = _forked(_encrypt_decrypt)
    assert not failures, (SEED, failures[:10], len(failures))
