"""The SM2-with-SM3 profile (GB/T 20520 profile of RFC 3161; sm3 1.2.156.10197.1.401, sm2sign-with-sm3
1.2.156.10197.1.501, SM2 ID "1234567812345678") and what OpenSSL 3.0 makes of it.

Finding (asserted below, so it is re-checked on every run): OpenSSL 3.0's `ts` uses its PKCS#7 code, which
(a) cannot sign with an SM2 key at all (`PKCS7_SIGNER_INFO_set: signing not supported for this key type`),
and (b) verifies an SM2 SignerInfo like ECDSA, as a signature over e = SM3(signedAttrs), skipping the
Z_A = SM3(ENTL || ID || curve || key) prefix of GB/T 32918.2 §6.1. A GB/T-conformant token therefore fails
`openssl ts -verify`, and the only SM2 token it accepts is one that no GB/T verifier would.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from ts_pki import Sm2Pki, make_sm2_pki, openssl

from bidkernel.crypto import sm2
from bidkernel.crypto.sm3 import sm3
from bidkernel.timestamp import Digest, TimeStampAuthority, Trust, TrustedClock, VerificationError, verify_token
from bidkernel.timestamp.serials import SqliteSerialCounter
from bidkernel.timestamp.signers import SM2_SM3, Sm2Signer, load_signer
from bidkernel.timestamp.verify import parse_request, verify_against_request

DATA = b"opening record: 3 bids"


BOTH_IDS = (b"1234567812345678", b"")


@pytest.fixture(scope="module")
def openssl_default_pki(tmp_path_factory: pytest.TempPathFactory) -> Sm2Pki:
    """Certificates signed the way OpenSSL 3.0 does by default (empty SM2 ID): its chain check needs that."""
    return make_sm2_pki(tmp_path_factory.mktemp("sm2pki-openssl"), distid=False)


@pytest.fixture(scope="module")
def sm2_pki(tmp_path_factory: pytest.TempPathFactory) -> Sm2Pki:
    return make_sm2_pki(tmp_path_factory.mktemp("sm2pki"))


def _authority(p: Sm2Pki, db: Path, signer: Sm2Signer | None = None) -> TimeStampAuthority:
    _, tsa = p.load()
    return TimeStampAuthority(
        signer=signer or load_signer(SM2_SM3, p.tsa_key.read_bytes()),
        certificate=tsa,
        policy="1.2.156.1",
        serials=SqliteSerialCounter(db),
        clock=TrustedClock(),
    )


def test_sm2_token_verifies_and_uses_gbt_oids(sm2_pki: Sm2Pki, tmp_path: Path) -> None:
    ca, tsa = sm2_pki.load()
    auth = _authority(sm2_pki, tmp_path / "s")
    token = auth.stamp(DATA)
    info = verify_token(token, DATA, Trust([ca]))
    assert info.hash_algorithm == "sm3" and info.signature_algorithm == "1.2.156.10197.1.501"
    assert info.message_imprint == sm3(DATA)
    # the SignerInfo signature is SM2 over SM3(Z_A || signedAttrs) with the default ID, checked independently
    from bidkernel.timestamp.signers import spki
    from bidkernel.timestamp.verify import _parse_token

    tok = _parse_token(token)
    point = spki(tsa).point
    sig = bytes(tok.signer_info["signature"])
    assert sm2.verify(point, tok.signed_attrs_der, sig, id=b"1234567812345678")
    assert not sm2.verify(point, tok.signed_attrs_der, sig, id=b"")
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, Trust([ca], sm2_id=b""))  # a verifier with another ID refuses
    assert e.value.code == "timestamp.verify.bad_signature"
    with pytest.raises(VerificationError) as e:
        verify_token(token, Digest("sm3", sm3(DATA + b"x")), Trust([ca]))
    assert e.value.code == "timestamp.verify.imprint_mismatch"


def test_sm2_every_altered_byte_rejected(sm2_pki: Sm2Pki, tmp_path: Path) -> None:
    ca, _ = sm2_pki.load()
    token = _authority(sm2_pki, tmp_path / "s").stamp(DATA, nonce=5)
    trust = Trust([ca])
    rng = random.Random(2050)
    accepted = []
    for pos in range(len(token)):
        m = bytearray(token)
        m[pos] ^= rng.randrange(1, 256)
        try:
            verify_token(bytes(m), DATA, trust, nonce=5)
            accepted.append(pos)
        except VerificationError:
            pass
    assert accepted == []


def test_openssl_parses_sm2_reply_but_pkcs7_verify_skips_za(openssl_default_pki: Sm2Pki, tmp_path: Path) -> None:
    (tmp_path / "d").write_bytes(DATA)
    q, r = tmp_path / "q.tsq", tmp_path / "r.tsr"
    openssl("ts", "-query", "-data", str(tmp_path / "d"), "-sm3", "-cert", "-out", str(q))
    reply = _authority(openssl_default_pki, tmp_path / "s").respond(q.read_bytes())
    r.write_bytes(reply)
    text = openssl("ts", "-reply", "-in", str(r), "-text").stdout.decode()
    assert "Status: Granted." in text and "Hash Algorithm: sm3" in text
    ca, _ = openssl_default_pki.load()
    assert verify_against_request(reply, q.read_bytes(), Trust([ca], cert_sm2_ids=BOTH_IDS)).hash_algorithm == "sm3"

    def ossl_verify(path: Path) -> tuple[int, str]:
        res = openssl(
            "ts", "-verify", "-in", str(path), "-queryfile", str(q), "-CAfile", str(openssl_default_pki.ca_cert),
            "-untrusted", str(openssl_default_pki.tsa_cert), check=False,
        )  # fmt: skip
        return res.returncode, (res.stdout + res.stderr).decode()

    rc, out = ossl_verify(r)
    # OpenSSL 3.0 accepts the certificate chain (empty-ID certificate signatures) but refuses the conformant token
    assert rc != 0 and "PKCS7_signatureVerify:signature failure" in out, out
    # the reason: a signature over e = SM3(signedAttrs) without Z_A passes OpenSSL 3.0 ...
    key = sm2.load_private_key(openssl_default_pki.tsa_key.read_bytes())

    class NoZa(Sm2Signer):
        def sign(self, data: bytes) -> bytes:
            return bytes(sm2.sign_digest(key, sm3(data)))

    r2 = tmp_path / "noza.tsr"
    r2.write_bytes(_authority(openssl_default_pki, tmp_path / "s2", NoZa(key)).respond(q.read_bytes()))
    rc, out = ossl_verify(r2)
    assert rc == 0 and "Verification: OK" in out, out
    # ... and that token is not GB/T 32918.2 conformant, so our verifier refuses it
    with pytest.raises(VerificationError) as e:
        verify_against_request(r2.read_bytes(), q.read_bytes(), Trust([ca], cert_sm2_ids=BOTH_IDS))
    assert e.value.code == "timestamp.verify.bad_signature"


def test_openssl_ts_cannot_sign_with_sm2(sm2_pki: Sm2Pki, tmp_path: Path) -> None:
    (tmp_path / "serial").write_text("01\n")
    cnf = tmp_path / "tsa.cnf"
    cnf.write_text(
        "[ tsa ]\ndefault_tsa = c\n[ c ]\n"
        f"serial = {tmp_path}/serial\ncrypto_device = builtin\nsigner_cert = {sm2_pki.tsa_cert}\n"
        f"signer_key = {sm2_pki.tsa_key}\nsigner_digest = sm3\ndefault_policy = 1.2.3.4.1\ndigests = sm3\n"
        "ess_cert_id_alg = sm3\n"
    )
    (tmp_path / "d").write_bytes(DATA)
    q, r = tmp_path / "q", tmp_path / "r"
    openssl("ts", "-query", "-data", str(tmp_path / "d"), "-sm3", "-cert", "-out", str(q))
    res = openssl("ts", "-reply", "-config", str(cnf), "-queryfile", str(q), "-out", str(r), check=False)
    assert b"signing not supported for this key type" in res.stderr
    text = openssl("ts", "-reply", "-in", str(r), "-text").stdout.decode()
    assert "Status: Rejected." in text
    assert parse_request(q.read_bytes()).hash_algorithm == "sm3"


def test_certificates_signed_with_empty_id_need_explicit_trust(tmp_path: Path) -> None:
    p = make_sm2_pki(tmp_path / "emptyid", distid=False)  # OpenSSL 3.0's default: empty SM2 ID
    ca, _ = p.load()
    token = _authority(p, tmp_path / "s").stamp(DATA)
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, Trust([ca]))
    assert e.value.code == "timestamp.verify.untrusted_certificate"
    info = verify_token(token, DATA, Trust([ca], cert_sm2_ids=(b"1234567812345678", b"")))
    assert info.hash_algorithm == "sm3"
