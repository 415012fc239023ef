"""SM2 API behaviour: keys (PKCS#8 / SEC1 / SPKI, PEM and DER, with the openssl CLI both ways),
formats, errors, batch entry points."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidkernel.crypto import sm2
from bidkernel.crypto.errors import CryptoError, DecryptionError, InvalidKey

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
_PROP_KEY = sm2.generate_private_key()


def _run(*args: str, input: bytes | None = None) -> bytes:
    return subprocess.run([OPENSSL or "openssl", *args], input=input, capture_output=True, check=True).stdout


def test_generate_distinct_keys_and_repr_hides_scalar() -> None:
    a, b = sm2.generate_private_key(), sm2.generate_private_key()
    assert a.public_key() != b.public_key()
    assert len(a.public_key()) == 65 and a.public_key()[0] == 4
    der = a.to_pkcs8(pem=False)
    scalar_hex = der[-100:].hex()  # crude: the repr must not contain any long hex run of the key
    r = repr(a)
    assert a.fingerprint() in r
    assert len(a.fingerprint()) == 16
    for i in range(0, len(scalar_hex) - 16, 2):
        assert scalar_hex[i : i + 16] not in r


def test_pkcs8_sec1_spki_roundtrips() -> None:
    k = sm2.generate_private_key()
    pub = k.public_key()
    for blob in (k.to_pkcs8(), k.to_pkcs8(pem=False), k.to_sec1(), k.to_sec1(pem=False)):
        assert sm2.load_private_key(blob).public_key() == pub
    assert k.to_pkcs8().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert k.to_sec1().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    spki_pem = sm2.public_key_to_spki(pub)
    assert spki_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert sm2.load_public_key(spki_pem) == pub
    assert sm2.load_public_key(sm2.public_key_to_spki(pub, pem=False)) == pub
    assert sm2.load_public_key(bytearray(pub)) == pub


def test_bad_keys_raise_invalid_key() -> None:
    k = sm2.generate_private_key()
    bad_point = bytearray(k.public_key())
    bad_point[-1] ^= 1
    for blob in (
        b"",
        b"\x04",
        bytes(bad_point),
        b"\x00",
        b"\x30\x03\x02\x01\x01",
        b"-----BEGIN PUBLIC KEY-----\n",
    ):
        with pytest.raises(InvalidKey):
            sm2.load_public_key(blob)
    with pytest.raises(InvalidKey):
        sm2.verify(bytes(bad_point), b"m", b"\x30\x06\x02\x01\x01\x02\x01\x01")
    der = k.to_pkcs8(pem=False)
    for blob in (
        der[:-1],
        der + b"\x00",
        b"not a key",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ):
        with pytest.raises(InvalidKey):
            sm2.load_private_key(blob)
    with pytest.raises(InvalidKey):
        sm2.load_private_key(k.to_pkcs8(), password=b"pw")
    assert issubclass(InvalidKey, CryptoError)


def test_scalar_range() -> None:
    n = int("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123", 16)
    for bad in (0, n - 1, n, 2**256 - 1):
        with pytest.raises(InvalidKey):
            sm2.PrivateKey.from_scalar_bytes(bad.to_bytes(32, "big"))
    for good in (1, 2, n - 2):
        sm2.PrivateKey.from_scalar_bytes(good.to_bytes(32, "big"))
    with pytest.raises(InvalidKey):
        sm2.PrivateKey.from_scalar_bytes(b"\x01" * 31)


def test_sign_verify_formats_and_ids() -> None:
    k = sm2.generate_private_key()
    pub = k.public_key()
    for ident in (sm2.DEFAULT_ID, b"", b"alice@example.com", bytes(range(256)) * 4):
        for fmt in ("der", "raw"):
            sig = sm2.sign(k, b"msg", id=ident, fmt=fmt)  # type: ignore[arg-type]
            assert sm2.verify(pub, b"msg", sig, id=ident, fmt=fmt)  # type: ignore[arg-type]
            assert not sm2.verify(pub, b"msg", sig, id=ident + b"x", fmt=fmt)  # type: ignore[arg-type]
    raw = sm2.sign(k, b"msg", fmt="raw")
    assert len(raw) == 64
    with pytest.raises(ValueError):
        sm2.sign(k, b"m", fmt="pem")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sm2.sign(k, b"m", id=b"x" * 8192)
    e = sm2.compute_z(pub)
    from bidkernel.crypto.sm3 import sm3

    digest = sm3(e + b"msg")
    sig = sm2.sign_digest(k, digest)
    assert sm2.verify(pub, b"msg", sig)
    assert sm2.verify_digest(pub, digest, sig)
    with pytest.raises(ValueError):
        sm2.sign_digest(k, b"short")


def test_signatures_are_randomized() -> None:
    k = sm2.generate_private_key()
    assert len({sm2.sign(k, b"same") for _ in range(8)}) == 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_forked_child_never_reuses_a_pooled_nonce() -> None:
    """The key's nonce pool is filled in the parent; after a fork, parent and child each sign the
    same message once. Equal r for the same message and key means the same nonce (r = e + x1),
    which would leak the private key; the child must refill its pool instead."""
    k = sm2.generate_private_key()
    sm2.sign(k, b"warm the pool", fmt="raw")  # fills the pool (32 nonces) in the parent
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: sign, report r, exit without running pytest's teardown
        try:
            os.write(wfd, sm2.sign(k, b"same", fmt="raw")[:32])
        finally:
            os._exit(0)
    os.close(wfd)
    parent_r = sm2.sign(k, b"same", fmt="raw")[:32]
    with os.fdopen(rfd, "rb") as f:
        child_r = f.read()
    os.waitpid(pid, 0)
    assert len(child_r) == 32
    assert child_r != parent_r


def test_encrypt_decrypt_formats() -> None:
    k = sm2.generate_private_key()
    other = sm2.generate_private_key()
    for fmt in ("der", "c1c3c2", "c1c2c3"):
        for size in (1, 16, 32, 33, 1000):
            pt = bytes(range(256)) * 4
            pt = pt[:size]
            ct = sm2.encrypt(k.public_key(), pt, fmt=fmt)  # type: ignore[arg-type]
            assert sm2.decrypt(k, ct, fmt=fmt) == pt  # type: ignore[arg-type]
            with pytest.raises(sm2.Sm2DecryptionError) as ei:
                sm2.decrypt(other, ct, fmt=fmt)  # type: ignore[arg-type]
            assert ei.value.reason == "integrity"
    with pytest.raises(ValueError):
        sm2.encrypt(k.public_key(), b"")
    with pytest.raises(ValueError):
        sm2.encrypt(k.public_key(), b"x", fmt="c2c1c3")  # type: ignore[arg-type]
    with pytest.raises(DecryptionError) as ei2:
        sm2.decrypt(k, b"\x30\x00")
    assert ei2.value.reason == "malformed"  # type: ignore[attr-defined]


def test_batch_results_per_item() -> None:
    k = sm2.generate_private_key()
    pub = k.public_key()
    msgs = [bytes([i]) * i for i in range(1, 40)]
    sigs = [sm2.sign(k, m) for m in msgs]
    items: list[tuple[bytes, bytes, bytes] | tuple[bytes, bytes, bytes, bytes]] = [
        (pub, m, s) for m, s in zip(msgs, sigs, strict=True)
    ]
    items[5] = (pub, b"wrong", sigs[5])
    items[6] = (b"\x04" + b"\x00" * 64, msgs[6], sigs[6])
    items[7] = (pub, msgs[7], sigs[7], b"other id")
    items[8] = (pub, msgs[8], sigs[8] + b"\x00")
    res = sm2.verify_many(items)
    assert res == [i not in (5, 6, 7, 8) for i in range(len(msgs))]
    from bidkernel.crypto.sm3 import sm3

    z = sm2.compute_z(pub)
    pre = [(pub, sm3(z + m), s) for m, s in zip(msgs, sigs, strict=True)]
    assert all(sm2.verify_many(pre, prehashed=True))
    cts = [sm2.encrypt(pub, m) for m in msgs]
    cts[3] = cts[3][:-1]
    cts[4] = sm2.encrypt(sm2.generate_private_key().public_key(), msgs[4])
    out = sm2.decrypt_many(k, cts)
    for i, r in enumerate(out):
        if i == 3:
            assert isinstance(r, sm2.Sm2DecryptionError) and r.reason == "malformed"
        elif i == 4:
            assert isinstance(r, sm2.Sm2DecryptionError) and r.reason == "integrity"
        else:
            assert r == msgs[i]
    assert sm2.decrypt_many(k, []) == [] and sm2.verify_many([]) == []


# ------------------------------------------------------------------ openssl CLI key interop


@needs_openssl
def test_openssl_keys_load(tmp_path: Path) -> None:
    key_pem = _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2")
    pub_pem = _run("pkey", "-pubout", input=key_pem)
    pub_der = _run("pkey", "-pubout", "-outform", "DER", input=key_pem)
    sec1_pem = _run("ec", input=key_pem)  # OpenSSL 3 labels it "SM2 PRIVATE KEY"
    sec1_der = _run("ec", "-outform", "DER", input=key_pem)
    p8_der = _run("pkcs8", "-topk8", "-nocrypt", "-outform", "DER", input=key_pem)
    ecparam = _run("ecparam", "-name", "SM2", "-genkey")  # parameters block, then the key
    k = sm2.load_private_key(key_pem)
    for blob in (sec1_pem, sec1_der, p8_der):
        assert sm2.load_private_key(blob).public_key() == k.public_key()
    assert sm2.load_public_key(pub_pem) == k.public_key()
    assert sm2.load_public_key(pub_der) == k.public_key()
    sm2.load_private_key(ecparam)
    # Our PKCS#8 and SPKI encodings are byte-identical to OpenSSL's.
    assert k.to_pkcs8() == key_pem
    assert sm2.public_key_to_spki(k.public_key()) == pub_pem
    assert base64.b64decode(b"".join(key_pem.splitlines()[1:-1])) == k.to_pkcs8(pem=False)


@needs_openssl
def test_our_keys_load_in_openssl(tmp_path: Path) -> None:
    k = sm2.generate_private_key()
    for blob, form in (
        (k.to_pkcs8(), "PEM"),
        (k.to_pkcs8(pem=False), "DER"),
        (k.to_sec1(), "PEM"),
        (k.to_sec1(pem=False), "DER"),
    ):
        f = tmp_path / "k"
        f.write_bytes(blob)
        pub = _run("pkey", "-in", str(f), "-inform", form, "-pubout")
        assert sm2.load_public_key(pub) == k.public_key()
    f = tmp_path / "p"
    f.write_bytes(sm2.public_key_to_spki(k.public_key(), pem=False))
    text = _run("pkey", "-pubin", "-in", str(f), "-inform", "DER", "-noout", "-text").decode()
    assert "SM2" in text


def test_private_key_is_not_picklable_or_copyable() -> None:
    import copy
    import pickle

    k = sm2.generate_private_key()
    with pytest.raises(TypeError):
        pickle.dumps(k)
    with pytest.raises(TypeError):
        copy.deepcopy(k)


def test_threads_share_a_key_with_the_gil_released() -> None:
    from concurrent.futures import ThreadPoolExecutor

    k = sm2.generate_private_key()
    pub = k.public_key()

    def work(i: int) -> bool:
        msg = i.to_bytes(4, "big") * 8
        sig = sm2.sign(k, msg)
        ct = sm2.encrypt(pub, msg)
        return sm2.verify(pub, msg, sig) and sm2.decrypt(k, ct) == msg

    with ThreadPoolExecutor(max_workers=4) as ex:
        assert all(ex.map(work, range(200)))


@settings(max_examples=200, deadline=None)
@given(msg=st.binary(max_size=300), ident=st.binary(max_size=64), raw=st.booleans())
def test_property_sign_verify(msg: bytes, ident: bytes, raw: bool) -> None:
    fmt: sm2.SigFormat = "raw" if raw else "der"
    sig = sm2.sign(_PROP_KEY, msg, id=ident, fmt=fmt)
    assert sm2.verify(_PROP_KEY.public_key(), msg, sig, id=ident, fmt=fmt)
    assert not sm2.verify(_PROP_KEY.public_key(), msg + b"\x00", sig, id=ident, fmt=fmt)


@settings(max_examples=200, deadline=None)
@given(msg=st.binary(min_size=1, max_size=300), fmt=st.sampled_from(["der", "c1c3c2", "c1c2c3"]))
def test_property_encrypt_decrypt_and_convert(msg: bytes, fmt: sm2.CipherFormat) -> None:
    ct = sm2.encrypt(_PROP_KEY.public_key(), msg, fmt=fmt)
    assert sm2.decrypt(_PROP_KEY, ct, fmt=fmt) == msg
    for other in ("der", "c1c3c2", "c1c2c3"):
        conv = sm2.convert_ciphertext(ct, fmt, other)  # type: ignore[arg-type]
        assert sm2.decrypt(_PROP_KEY, conv, fmt=other) == msg  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200), fmt=st.sampled_from(["der", "c1c3c2", "c1c2c3"]))
def test_property_garbage_never_decrypts(junk: bytes, fmt: sm2.CipherFormat) -> None:
    with pytest.raises(sm2.Sm2DecryptionError):
        sm2.decrypt(_PROP_KEY, junk, fmt=fmt)


@needs_openssl
def test_foreign_curve_keys_rejected() -> None:
    p256 = _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    ed = _run("genpkey", "-algorithm", "ED25519")
    for blob in (p256, _run("pkey", "-outform", "DER", input=p256), ed):
        with pytest.raises(InvalidKey):
            sm2.load_private_key(blob)
    with pytest.raises(InvalidKey):
        sm2.load_public_key(_run("pkey", "-pubout", input=p256))
