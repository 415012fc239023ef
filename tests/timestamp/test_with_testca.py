"""The SM2 TSA under the kernel's test CA (`bidkernel.crypto.ca.TestCA`) and its chain checker.

TestCA.issue() has no extendedKeyUsage parameter yet, so it cannot issue a TSA certificate on its own (RFC 3161
§2.3 needs a critical timeStamping-only EKU): the TSA refuses such a certificate. The helper below takes a
TestCA-issued certificate, adds the EKU to its TBSCertificate and re-signs it with the TestCA issuing key (SM2,
default ID), so the TSA's chain ends at a real TestCA root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc5280

from bidkernel.crypto import sm2
from bidkernel.crypto.ca import TestCA
from bidkernel.crypto.x509 import Certificate, verify_chain
from bidkernel.timestamp import ConfigError, TimeStampAuthority, Trust, TrustedClock, VerificationError, verify_token
from bidkernel.timestamp.serials import SqliteSerialCounter
from bidkernel.timestamp.signers import Sm2Signer

EKU_TIMESTAMPING = bytes.fromhex("300a06082b06010505070308")  # SEQUENCE { id-kp-timeStamping }


def tsa_certificate(ca: TestCA) -> tuple[Certificate, sm2.PrivateKey]:
    issued = ca.issue("CN=bidkernel test TSA,O=bidkernel")
    tbs, _ = decoder.decode(issued.certificate.tbs_der, asn1Spec=rfc5280.TBSCertificate())
    ext = rfc5280.Extension()
    ext["extnID"] = univ.ObjectIdentifier("2.5.29.37")
    ext["critical"] = True
    ext["extnValue"] = univ.OctetString(EKU_TIMESTAMPING)
    tbs["extensions"].append(ext)
    tbs_der = encoder.encode(tbs)
    cert = rfc5280.Certificate()
    cert["tbsCertificate"] = tbs
    cert["signatureAlgorithm"]["algorithm"] = univ.ObjectIdentifier("1.2.156.10197.1.501")
    cert["signature"] = univ.BitString.fromOctetString(sm2.sign(ca.issuing.key, tbs_der, id=sm2.DEFAULT_ID))
    return Certificate.from_der(encoder.encode(cert)), issued.key


def _authority(cert: Certificate, key: sm2.PrivateKey, db: Path) -> TimeStampAuthority:
    from cryptography import x509

    return TimeStampAuthority(
        signer=Sm2Signer(key),
        certificate=x509.load_der_x509_certificate(cert.der),
        policy="1.2.156.1",
        serials=SqliteSerialCounter(db),
        clock=TrustedClock(),
    )


@pytest.mark.parametrize("intermediate", [None, "CN=bidkernel test issuing CA,O=bidkernel"])
def test_sm2_tsa_under_testca(intermediate: str | None, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from cryptography import x509

    ca = TestCA.create(intermediate=intermediate)
    cert, key = tsa_certificate(ca)
    # the lead's chain checker agrees the certificate chains to the TestCA root
    path = verify_chain(cert, roots=[ca.root.certificate], intermediates=ca.chain, at=datetime.now(UTC))
    assert path[-1].fingerprint == ca.root.certificate.fingerprint
    token = _authority(cert, key, tmp_path / "s").stamp(b"receipt")
    root = x509.load_der_x509_certificate(ca.root.certificate.der)
    extra = [x509.load_der_x509_certificate(c.der) for c in ca.chain]
    info = verify_token(token, b"receipt", Trust([root], extra))
    assert info.hash_algorithm == "sm3" and "bidkernel test TSA" in info.signer_subject
    with pytest.raises(VerificationError) as e:
        verify_token(
            token, b"receipt", Trust([x509.load_der_x509_certificate(TestCA.create().root.certificate.der)], extra)
        )
    assert e.value.code == "timestamp.verify.untrusted_certificate"


def test_testca_certificate_without_eku_is_refused(tmp_path: Path) -> None:
    from cryptography import x509

    issued = TestCA.create().issue("CN=not a TSA")
    with pytest.raises(ConfigError, match=r"RFC 3161 §2\.3"):
        TimeStampAuthority(
            signer=Sm2Signer(issued.key),
            certificate=x509.load_der_x509_certificate(issued.certificate.der),
            policy="1.2.3",
            serials=SqliteSerialCounter(tmp_path / "s"),
            clock=TrustedClock(),
        )
