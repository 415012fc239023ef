"""Differential tests bidkernel <-> the pure-Python PyPI ``gmssl`` 3.2.2 (test oracle only).

gmssl conventions and the conversions done here:

* keys are hex strings: the private scalar (64 hex digits) and the public point x||y WITHOUT the
  04 prefix. gmssl strips a leading "04" with ``str.lstrip("04")``, which also eats leading 0 and 4
  digits of x; keys whose x starts with hex digit 0 or 4 are therefore regenerated (a gmssl bug);
* signatures are raw r||s hex over SM3(Z || M) with the fixed ID "1234567812345678" (the only ID
  gmssl supports), so only the GM/T 0009 default ID is covered here;
* ciphertexts are raw C1||C2||C3 (mode=0, default) or C1||C3||C2 (mode=1), C1 = x||y without 04.

gmssl does ~100 SM2 operations per second, so 10,000 cases per direction would take ~15 minutes.
The count is chosen so the file runs in about 2 minutes on the shared 2-core machine: 2,000
sign->verify cases (each both directions: bidkernel signs / gmssl verifies and gmssl signs /
bidkernel verifies) and 2,000 encrypt->decrypt cases (each both directions, alternating gmssl's
C1C2C3 and C1C3C2 modes), 8,000 gmssl operations in all. Measured with the default: 154 s for the
file (78 s + 75 s) with the 2 shared cores at load average ~5; 1,000 + 1,000 cases took 55 s at
load ~3. ``BIDKERNEL_SM2_GMSSL_CASES`` overrides (the 10,000-case bulk
differential runs against OpenSSL in test_sm2_interop_openssl.py).
"""

from __future__ import annotations

import os
import random

import pytest

from bidkernel.crypto import sm2

gmssl_sm2 = pytest.importorskip("gmssl.sm2")

CASES = int(os.environ.get("BIDKERNEL_SM2_GMSSL_CASES", "2000"))
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


def test_gmssl_sign_verify_both_directions() -> None:
    rng = random.Random(SEED + 10)
    failures: list[str] = []
    key, d_hex, xy = _gm_key()
    gm = gmssl_sm2.CryptSM2(private_key=d_hex, public_key=xy)
    for i in range(CASES):
        if i % 25 == 0 and i:
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
    assert not failures, (SEED, failures[:10], len(failures))


def test_gmssl_encrypt_decrypt_both_directions() -> None:
    rng = random.Random(SEED + 11)
    failures: list[str] = []
    key, d_hex, xy = _gm_key()
    gms = {m: gmssl_sm2.CryptSM2(private_key=d_hex, public_key=xy, mode=m) for m in (0, 1)}
    for i in range(CASES):
        if i % 25 == 0 and i:
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
        theirs = b"\x04" + gm.encrypt(msg)
        try:
            if sm2.decrypt(key, theirs, fmt=fmt) != msg:
                failures.append(f"case {i}: wrong plaintext from gmssl's {fmt} ciphertext")
            der = sm2.convert_ciphertext(theirs, fmt, "der")
            if i % 10 == 0 and sm2.decrypt(key, der) != msg:
                failures.append(f"case {i}: converted DER ciphertext does not decrypt")
        except sm2.Sm2DecryptionError as exc:
            failures.append(f"case {i}: we rejected gmssl's {fmt} ciphertext ({exc.reason})")
    assert not failures, (SEED, failures[:10], len(failures))
