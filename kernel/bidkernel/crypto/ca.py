"""A small SM2 certificate authority for tests, the demo and load tests (GM/T 0015, RFC 5280).

Not a production CA: trading centers use their CA's certificates. It issues real, standard
certificates (SM2-with-SM3 signatures, the usual v3 extensions) that `openssl verify` accepts, so
every path that checks certificates is exercised against the real thing.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography import x509 as _cx509
from cryptography.x509.oid import ExtensionOID
from pyasn1.codec.der import decoder as _der_decoder
from pyasn1.codec.der import encoder as _der_encoder
from pyasn1.type import univ, useful
from pyasn1_modules import rfc5280

from bidkernel.crypto import oids, sm2
from bidkernel.crypto.sm3 import sm3
from bidkernel.crypto.x509 import Certificate, KeyUsage

_UTCTIME_LIMIT = _dt.datetime(2050, 1, 1, tzinfo=_dt.UTC)  # RFC 5280 §4.1.2.5


def _time(t: _dt.datetime) -> rfc5280.Time:
    out = rfc5280.Time()
    t = t.astimezone(_dt.UTC).replace(microsecond=0)
    if t < _UTCTIME_LIMIT:
        out["utcTime"] = useful.UTCTime(t.strftime("%y%m%d%H%M%SZ"))
    else:
        out["generalTime"] = useful.GeneralizedTime(t.strftime("%Y%m%d%H%M%SZ"))
    return out


def _name(name_or_der: str | bytes) -> rfc5280.Name:
    """A Name from an RFC 4514 string, or kept byte-exact from DER (issuer names must match exactly)."""
    der = name_or_der if isinstance(name_or_der, bytes) else _cx509.Name.from_rfc4514_string(name_or_der).public_bytes()
    name, _ = _der_decoder.decode(der, asn1Spec=rfc5280.Name())
    return name


def _extension(oid: _cx509.ObjectIdentifier, value: _cx509.ExtensionType, critical: bool) -> rfc5280.Extension:
    ext = rfc5280.Extension()
    ext["extnID"] = univ.ObjectIdentifier(oid.dotted_string)
    ext["critical"] = critical
    ext["extnValue"] = univ.OctetString(value.public_bytes())
    return ext


def _key_id(public_key: bytes) -> bytes:
    # RFC 5280 §4.2.1.2 method (1) uses SHA-1; we use the leftmost 160 bits of SM3 over the key, as GM/T 0015 permits.
    return sm3(public_key)[:20]


def _key_usage(usages: Iterable[KeyUsage]) -> _cx509.KeyUsage:
    u = set(usages)
    return _cx509.KeyUsage(
        digital_signature=KeyUsage.DIGITAL_SIGNATURE in u,
        content_commitment=KeyUsage.CONTENT_COMMITMENT in u,
        key_encipherment=KeyUsage.KEY_ENCIPHERMENT in u,
        data_encipherment=KeyUsage.DATA_ENCIPHERMENT in u,
        key_agreement=KeyUsage.KEY_AGREEMENT in u,
        key_cert_sign=KeyUsage.KEY_CERT_SIGN in u,
        crl_sign=KeyUsage.CRL_SIGN in u,
        encipher_only=False,
        decipher_only=False,
    )


SIGNING = (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.CONTENT_COMMITMENT)
ENCRYPTION = (KeyUsage.KEY_ENCIPHERMENT, KeyUsage.DATA_ENCIPHERMENT)


def build_certificate(
    *,
    subject: str,
    subject_key: bytes,
    issuer: str | bytes,
    issuer_key: sm2.PrivateKey,
    serial: int | None = None,
    not_before: _dt.datetime,
    not_after: _dt.datetime,
    is_ca: bool = False,
    path_length: int | None = None,
    key_usage: Iterable[KeyUsage] = SIGNING,
    issuer_public_key: bytes | None = None,
    extended_key_usage: Iterable[str] = (),
) -> Certificate:
    """Issue an X.509 v3 certificate for the SM2 point ``subject_key`` (GM/T 0015 §6, RFC 5280 §4.1).

    The signature is SM2-with-SM3 with the default distinguishing ID "1234567812345678" (GM/T 0009),
    over the DER TBSCertificate; the AlgorithmIdentifier has no parameters, as OpenSSL writes it.
    ``extended_key_usage`` (dotted OIDs) adds a critical extendedKeyUsage (RFC 5280 §4.2.1.12), e.g.
    id-kp-timeStamping alone for a TSA certificate (RFC 3161 §2.3).
    """
    alg = rfc5280.AlgorithmIdentifier()
    alg["algorithm"] = univ.ObjectIdentifier(oids.SM2_WITH_SM3)
    spki, _ = _der_decoder.decode(
        sm2.public_key_to_spki(subject_key, pem=False), asn1Spec=rfc5280.SubjectPublicKeyInfo()
    )
    issuer_pub = issuer_public_key if issuer_public_key is not None else issuer_key.public_key()

    tbs = rfc5280.TBSCertificate()
    tbs["version"] = "v3"
    tbs["serialNumber"] = serial if serial is not None else secrets.randbits(127) | (1 << 126)
    tbs["signature"] = alg
    tbs["issuer"] = _name(issuer)
    validity = rfc5280.Validity()
    validity["notBefore"] = _time(not_before)
    validity["notAfter"] = _time(not_after)
    tbs["validity"] = validity
    tbs["subject"] = _name(subject)
    tbs["subjectPublicKeyInfo"] = spki

    exts = tbs["extensions"]
    usage = set(key_usage) | ({KeyUsage.KEY_CERT_SIGN, KeyUsage.CRL_SIGN} if is_ca else set())
    for oid, value, critical in (
        (
            ExtensionOID.BASIC_CONSTRAINTS,
            _cx509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None),
            True,
        ),
        (ExtensionOID.KEY_USAGE, _key_usage(usage), True),
        (ExtensionOID.SUBJECT_KEY_IDENTIFIER, _cx509.SubjectKeyIdentifier(_key_id(subject_key)), False),
        (
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
            _cx509.AuthorityKeyIdentifier(_key_id(issuer_pub), None, None),
            False,
        ),
    ):
        exts.append(_extension(oid, value, critical))
    eku = [_cx509.ObjectIdentifier(o) for o in extended_key_usage]
    if eku:
        exts.append(_extension(ExtensionOID.EXTENDED_KEY_USAGE, _cx509.ExtendedKeyUsage(eku), True))

    tbs_der = _der_encoder.encode(tbs)
    signature = sm2.sign(issuer_key, tbs_der, id=sm2.DEFAULT_ID)

    cert = rfc5280.Certificate()
    cert["tbsCertificate"] = tbs
    cert["signatureAlgorithm"] = alg
    cert["signature"] = univ.BitString.fromOctetString(signature)
    return Certificate.from_der(_der_encoder.encode(cert))


@dataclass
class Issued:
    """A certificate with its private key (the key never appears in a repr)."""

    certificate: Certificate
    key: sm2.PrivateKey = field(repr=False)


@dataclass
class TestCA:
    """A root CA (optionally with an intermediate) that issues SM2 certificates."""

    __test__ = False  # not a pytest test class, despite the name

    root: Issued
    issuing: Issued  # the certificate that signs end-entity certificates (root or intermediate)

    @classmethod
    def create(
        cls,
        name: str = "CN=bidkernel test root CA,O=bidkernel",
        *,
        intermediate: str | None = None,
        now: _dt.datetime | None = None,
        days: int = 3650,
    ) -> TestCA:
        now = now or _dt.datetime.now(_dt.UTC)
        key = sm2.generate_private_key()
        root_cert = build_certificate(
            subject=name,
            subject_key=key.public_key(),
            issuer=name,
            issuer_key=key,
            not_before=now - _dt.timedelta(minutes=5),
            not_after=now + _dt.timedelta(days=days),
            is_ca=True,
            key_usage=(),
        )
        root = Issued(root_cert, key)
        issuing = root
        if intermediate:
            ikey = sm2.generate_private_key()
            icert = build_certificate(
                subject=intermediate,
                subject_key=ikey.public_key(),
                issuer=root_cert.subject_der,
                issuer_key=key,
                not_before=now - _dt.timedelta(minutes=5),
                not_after=now + _dt.timedelta(days=days),
                is_ca=True,
                path_length=0,
                key_usage=(),
            )
            issuing = Issued(icert, ikey)
        return cls(root=root, issuing=issuing)

    @property
    def chain(self) -> list[Certificate]:
        """Certificates between an end entity and the root (empty without an intermediate)."""
        return [] if self.issuing is self.root else [self.issuing.certificate]

    def issue(
        self,
        subject: str,
        *,
        public_key: bytes | None = None,
        key_usage: Iterable[KeyUsage] = SIGNING,
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        days: int = 365,
        is_ca: bool = False,
        extended_key_usage: Iterable[str] = (),
    ) -> Issued:
        """Issue an end-entity certificate; a new key pair is generated unless ``public_key`` is given
        (then the returned ``key`` is a fresh, unrelated key and must not be used)."""
        now = _dt.datetime.now(_dt.UTC)
        key = sm2.generate_private_key()
        cert = build_certificate(
            subject=subject,
            subject_key=public_key if public_key is not None else key.public_key(),
            issuer=self.issuing.certificate.subject_der,
            issuer_key=self.issuing.key,
            not_before=not_before or now - _dt.timedelta(minutes=5),
            not_after=not_after or now + _dt.timedelta(days=days),
            key_usage=key_usage,
            is_ca=is_ca,
            extended_key_usage=extended_key_usage,
        )
        return Issued(cert, key)
