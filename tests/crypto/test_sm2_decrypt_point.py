"""The SM2 decryption proof: ``decrypt_with_point`` returns x2 || y2 = [d]C1 (GB/T 32918.4 §7.1 B3), and
``check_plaintext`` recomputes B4-B6 from it without the key. The point is checked against gmssl's own
scalar multiplication (an independent implementation)."""

from __future__ import annotations

import os

import pytest
from gmssl import sm2 as gmssl_sm2

from bidkernel.crypto import sm2


def _scalar_hex(key: sm2.PrivateKey) -> str:
    der = key.to_sec1(pem=False)  # ECPrivateKey: 30 77 02 01 01 04 20 <32-byte d> ...
    assert der[5:7] == b"\x04\x20"
    return der[7:39].hex()


@pytest.mark.parametrize("fmt", ["der", "c1c3c2", "c1c2c3"])
@pytest.mark.parametrize("size", [1, 16, 32, 33, 200])
def test_the_point_is_d_times_c1_and_proves_the_plaintext(fmt: sm2.CipherFormat, size: int) -> None:
    key = sm2.generate_private_key()
    msg = os.urandom(size)
    ct = sm2.encrypt(key.public_key(), msg, fmt=fmt)
    plain, point = sm2.decrypt_with_point(key, ct, fmt=fmt)
    assert plain == msg == sm2.decrypt(key, ct, fmt=fmt) and len(point) == 64
    raw = ct if fmt != "der" else sm2.convert_ciphertext(ct, "der", "c1c3c2")
    c1 = raw[1:65].hex()
    curve = gmssl_sm2.CryptSM2(private_key=_scalar_hex(key), public_key=key.public_key()[1:].hex())
    assert curve._kg(int(_scalar_hex(key), 16), c1) == point.hex()  # [d]C1 by gmssl
    assert sm2.check_plaintext(ct, msg, point, fmt=fmt)
    flipped = bytes([msg[0] ^ 1]) + msg[1:]
    assert not sm2.check_plaintext(ct, flipped, point, fmt=fmt)
    assert not sm2.check_plaintext(ct, msg, bytes([point[0] ^ 1]) + point[1:], fmt=fmt)
    assert not sm2.check_plaintext(ct, msg + b"x", point, fmt=fmt)


def test_bad_inputs_raise_clear_errors() -> None:
    key = sm2.generate_private_key()
    ct = sm2.encrypt(key.public_key(), b"k" * 16)
    _, point = sm2.decrypt_with_point(key, ct)
    with pytest.raises(sm2.Sm2DecryptionError):
        sm2.check_plaintext(ct, b"k" * 16, point[:63])
    with pytest.raises(sm2.Sm2DecryptionError):
        sm2.check_plaintext(ct[:-40], b"k" * 16, point)
    other = sm2.generate_private_key()
    with pytest.raises(sm2.Sm2DecryptionError):
        sm2.decrypt_with_point(other, ct)  # the wrong key: C3 fails, no point handed out
