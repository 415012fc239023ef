"""GB/T 32918.5 Annex A (signature) and Annex C (encryption) examples, read from the shared vector
file (never copied into code). Reproducing the fixed-k outputs needs a nonce hook, which exists only
in the Rust unit tests (``cargo test gm_sm2``); here the given signature must verify and the given
ciphertext must decrypt in all three encodings, and every single-bit change must be rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bidkernel.crypto import sm2
from bidkernel.crypto.errors import InvalidSignature


@pytest.fixture(scope="module")
def vectors(vectors_dir: Path) -> dict[str, Any]:
    return json.loads((vectors_dir / "sm2_gbt32918.json").read_text())


def _case(v: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in v["cases"] if c["id"] == case_id)


def h(c: dict[str, Any], field: str) -> bytes:
    return bytes.fromhex(c[field])


@pytest.fixture(scope="module")
def sig_case(vectors: dict[str, Any]) -> dict[str, Any]:
    return _case(vectors, "gbt32918.5-annexA-sign")


@pytest.fixture(scope="module")
def enc_case(vectors: dict[str, Any]) -> dict[str, Any]:
    return _case(vectors, "gbt32918.5-annexC-encrypt")


def test_default_id_is_the_vectors_id(sig_case: dict[str, Any]) -> None:
    assert h(sig_case, "uid") == sm2.DEFAULT_ID


def test_public_key_from_d(sig_case: dict[str, Any]) -> None:
    key = sm2.PrivateKey.from_scalar_bytes(h(sig_case, "d"))
    assert key.public_key() == h(sig_case, "public_key_sec1_uncompressed")
    assert key.public_key() == b"\x04" + h(sig_case, "px") + h(sig_case, "py")


def test_z_and_e(sig_case: dict[str, Any]) -> None:
    pub = h(sig_case, "public_key_sec1_uncompressed")
    z = sm2.compute_z(pub, h(sig_case, "uid"))
    assert z == h(sig_case, "za")
    from bidkernel.crypto.sm3 import sm3

    assert sm3(h(sig_case, "za_input")) == z
    assert sm3(z + h(sig_case, "msg")) == h(sig_case, "e")


def test_given_signature_verifies(sig_case: dict[str, Any]) -> None:
    pub = h(sig_case, "public_key_sec1_uncompressed")
    msg, uid = h(sig_case, "msg"), h(sig_case, "uid")
    der, raw = h(sig_case, "signature_der"), h(sig_case, "signature_raw_r_s")
    assert sm2.verify(pub, msg, der, id=uid)
    assert sm2.verify(pub, msg, raw, id=uid, fmt="raw")
    assert sm2.verify_digest(pub, h(sig_case, "e"), der)
    assert sm2.verify_digest(pub, h(sig_case, "e"), raw, fmt="raw")
    sm2.verify_or_raise(pub, msg, der, id=uid)
    assert not sm2.verify(pub, msg, der, id=b"")
    assert not sm2.verify(pub, msg + b"!", der, id=uid)
    assert not sm2.verify(pub, msg, raw, id=uid)  # raw bytes are not DER
    with pytest.raises(InvalidSignature):
        sm2.verify_or_raise(pub, msg, der, id=b"")


def test_given_signature_every_bit_flip_rejected(sig_case: dict[str, Any]) -> None:
    pub = h(sig_case, "public_key_sec1_uncompressed")
    msg, uid = h(sig_case, "msg"), h(sig_case, "uid")
    for field, fmt in (("signature_der", "der"), ("signature_raw_r_s", "raw")):
        sig = h(sig_case, field)
        items = []
        for i in range(len(sig)):
            for bit in range(8):
                bad = bytearray(sig)
                bad[i] ^= 1 << bit
                items.append((pub, msg, bytes(bad), uid))
        assert not any(sm2.verify_many(items, fmt=fmt)), field  # type: ignore[arg-type]


def test_compressed_public_key_accepted(sig_case: dict[str, Any]) -> None:
    py = h(sig_case, "py")
    compressed = bytes([2 + (py[-1] & 1)]) + h(sig_case, "px")
    assert sm2.load_public_key(compressed) == h(sig_case, "public_key_sec1_uncompressed")
    assert sm2.verify(compressed, h(sig_case, "msg"), h(sig_case, "signature_der"))


@pytest.mark.parametrize(
    ("field", "fmt"),
    [("ciphertext_der", "der"), ("ciphertext_raw_c1c3c2", "c1c3c2"), ("ciphertext_raw_c1c2c3", "c1c2c3")],
)
def test_given_ciphertext_decrypts(enc_case: dict[str, Any], field: str, fmt: sm2.CipherFormat) -> None:
    key = sm2.PrivateKey.from_scalar_bytes(h(enc_case, "d"))
    ct = h(enc_case, field)
    assert sm2.decrypt(key, ct, fmt=fmt) == h(enc_case, "msg")
    bad = []
    for i in range(len(ct)):
        for bit in range(8):
            b = bytearray(ct)
            b[i] ^= 1 << bit
            bad.append(bytes(b))
    results = sm2.decrypt_many(key, bad, fmt=fmt)
    assert all(isinstance(r, sm2.Sm2DecryptionError) for r in results)


def test_given_ciphertext_parts_and_conversion(enc_case: dict[str, Any]) -> None:
    der = h(enc_case, "ciphertext_der")
    c1c3c2 = h(enc_case, "ciphertext_raw_c1c3c2")
    c1c2c3 = h(enc_case, "ciphertext_raw_c1c2c3")
    assert c1c3c2 == b"\x04" + h(enc_case, "c1x") + h(enc_case, "c1y") + h(enc_case, "c3") + h(enc_case, "c2")
    assert sm2.convert_ciphertext(der, "der", "c1c3c2") == c1c3c2
    assert sm2.convert_ciphertext(der, "der", "c1c2c3") == c1c2c3
    assert sm2.convert_ciphertext(c1c2c3, "c1c2c3", "der") == der
    assert sm2.convert_ciphertext(c1c3c2, "c1c3c2", "der") == der
