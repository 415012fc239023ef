"""GM/T 0010 envelopes and detached signatures: round trips, streaming == in-memory, structure that
`openssl asn1parse` reads, and every bad input refused with a clear error."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from bidkernel.crypto import envelope as env
from bidkernel.crypto import oids, sm2
from bidkernel.crypto.ca import ENCRYPTION, SIGNING, TestCA
from bidkernel.crypto.errors import CryptoError, DecryptionError, InvalidSignature
from bidkernel.crypto.sm3 import sm3


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA.create()


@pytest.fixture(scope="module")
def opening(ca: TestCA):
    return ca.issue("CN=Tender 2026-001 opening key", key_usage=ENCRYPTION)


@pytest.fixture(scope="module")
def custodian(ca: TestCA):
    return ca.issue("CN=Supervisor custodian", key_usage=ENCRYPTION)


@pytest.fixture(scope="module")
def bidder(ca: TestCA):
    return ca.issue("CN=Bidder 007", key_usage=SIGNING)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096, 100_003])
def test_round_trip_sizes(opening, size: int) -> None:
    data = os.urandom(size)
    sealed = env.seal(data, [opening.certificate])
    assert size < 16 or data[:16] not in sealed  # the plaintext does not show through
    assert env.open_envelope(sealed, opening.key, opening.certificate) == data
    header = env.parse_header(sealed)
    assert header.ciphertext_length == (size // 16 + 1) * 16
    assert header.total_length == len(sealed)
    assert header.algorithm == oids.SM4_CBC and header.content_type == oids.GMT0010_DATA


def test_every_recipient_opens_and_outsiders_cannot(ca: TestCA, opening, custodian) -> None:
    data = b"price: 1,234,567.00 CNY; duration: 180 days"
    sealed = env.seal(data, [opening.certificate, custodian.certificate])
    assert env.open_envelope(sealed, opening.key, opening.certificate) == data
    assert env.open_envelope(sealed, custodian.key, custodian.certificate) == data
    outsider = ca.issue("CN=outsider", key_usage=ENCRYPTION)
    with pytest.raises(env.NotARecipient):
        env.open_envelope(sealed, outsider.key, outsider.certificate)
    # a key that does not belong to the named certificate is refused before any decryption
    with pytest.raises(env.NotARecipient):
        env.open_envelope(sealed, outsider.key, opening.certificate)


def test_structure_is_der_that_openssl_reads(opening, tmp_path: Path) -> None:
    sealed = env.seal(b"x" * 100, [opening.certificate])
    p = tmp_path / "e.der"
    p.write_bytes(sealed)
    res = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", str(p)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert oids.GMT0010_ENVELOPED_DATA in res.stdout  # OpenSSL has no name for it, so prints the number
    assert oids.SM2_ENCRYPT in res.stdout and ":sm4-cbc" in res.stdout


def test_streaming_file_equals_in_memory(opening, tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 5)
    src, sealed_path, out = tmp_path / "bid.pdf", tmp_path / "bid.env", tmp_path / "bid.out"
    src.write_bytes(data)
    key, iv = os.urandom(16), os.urandom(16)
    n = env.seal_file(src, sealed_path, [opening.certificate], content_key=key, iv=iv)
    # recipient infos differ (SM2 is randomised), so compare the parts that are deterministic
    mem = env.seal(data, [opening.certificate], content_key=key, iv=iv)
    h_file = env.read_header_from_file(sealed_path)
    h_mem = env.parse_header(mem)
    assert n == sealed_path.stat().st_size == h_file.total_length
    assert h_file.iv == h_mem.iv and h_file.ciphertext_length == h_mem.ciphertext_length
    assert sealed_path.read_bytes()[h_file.ciphertext_offset :] == mem[h_mem.ciphertext_offset :]
    assert env.open_file(sealed_path, out, key=opening.key, cert=opening.certificate) == len(data)
    assert out.read_bytes() == data


def test_unencrypted_file_is_refused_with_a_prompt(opening) -> None:
    with pytest.raises(env.EnvelopeFormatError, match="encrypted"):
        env.parse_header(b"%PDF-1.7 plain bid document")


@pytest.mark.parametrize("cut", [1, 16, 200])
def test_truncated_and_trailing(opening, cut: int, tmp_path: Path) -> None:
    sealed = env.seal(os.urandom(1000), [opening.certificate])
    with pytest.raises(env.EnvelopeFormatError):
        env.open_envelope(sealed[:-cut], opening.key, opening.certificate)
    with pytest.raises(env.EnvelopeFormatError):
        env.open_envelope(sealed + b"\x00" * cut, opening.key, opening.certificate)
    p, out = tmp_path / "t.env", tmp_path / "t.out"
    p.write_bytes(sealed[:-cut])
    with pytest.raises(env.EnvelopeFormatError):
        env.open_file(p, out, key=opening.key, cert=opening.certificate)
    assert not out.exists() and not list(tmp_path.glob(".t.out*"))


def test_tampered_wrapped_key_fails_integrity(opening) -> None:
    sealed = bytearray(env.seal(b"secret bid", [opening.certificate]))
    slot = env.parse_header(bytes(sealed)).recipients[0]
    i = bytes(sealed).index(slot.encrypted_key) + len(slot.encrypted_key) - 40  # inside C3/C2
    sealed[i] ^= 0x80
    with pytest.raises(DecryptionError):
        env.open_envelope(bytes(sealed), opening.key, opening.certificate)


def test_failed_file_decryption_leaves_no_output(opening, tmp_path: Path) -> None:
    sealed = bytearray(env.seal(os.urandom(5000), [opening.certificate]))
    sealed[-1] ^= 0xFF  # last block: the padding check fails
    p, out = tmp_path / "x.env", tmp_path / "x.out"
    p.write_bytes(bytes(sealed))
    with pytest.raises(CryptoError):
        env.open_file(p, out, key=opening.key, cert=opening.certificate)
    assert not out.exists() and not list(tmp_path.glob(".x.out*"))


def test_detached_signature_round_trip(bidder) -> None:
    sealed_digest = sm3(b"the sealed envelope bytes")
    when = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    sig = env.sign_digest(sealed_digest, bidder.key, bidder.certificate, signing_time=when)
    info = env.verify_digest(sig, sealed_digest)
    assert info.signer.fingerprint == bidder.certificate.fingerprint
    assert info.signing_time == when
    # with the certificate given out of band and not embedded
    bare = env.sign_digest(sealed_digest, bidder.key, bidder.certificate, include_certificate=False)
    assert env.verify_digest(bare, sealed_digest, signer=bidder.certificate).digest == sealed_digest
    with pytest.raises(InvalidSignature):
        env.verify_digest(bare, sealed_digest)


def test_detached_signature_rejections(ca: TestCA, bidder) -> None:
    d = sm3(b"content")
    sig = env.sign_digest(d, bidder.key, bidder.certificate)
    with pytest.raises(InvalidSignature, match="digest"):
        env.verify_digest(sig, sm3(b"other content"))
    other = ca.issue("CN=another bidder", key_usage=SIGNING)
    with pytest.raises(InvalidSignature):
        env.verify_digest(sig, d, signer=other.certificate)
    # every byte of a signature whose certificate comes out of band (an embedded certificate's own
    # validity and signature are the caller's chain policy, not this check)
    bare = env.sign_digest(d, bidder.key, bidder.certificate, include_certificate=False)
    flips = 0
    for i in range(len(bare)):
        bad = bytearray(bare)
        bad[i] ^= 0x04
        try:
            env.verify_digest(bytes(bad), d, signer=bidder.certificate)
        except (InvalidSignature, env.EnvelopeFormatError, CryptoError):
            continue
        flips += 1
    assert flips == 0
    with pytest.raises(env.EnvelopeFormatError):
        env.verify_digest(sig + b"\x00", d)


def test_signature_is_by_the_certificate_key(bidder) -> None:
    with pytest.raises(ValueError):
        env.sign_digest(sm3(b"x"), sm2.generate_private_key(), bidder.certificate)
