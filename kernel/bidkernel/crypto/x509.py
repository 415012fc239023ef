"""X.509 certificates with SM2 keys (GM/T 0015-2012, RFC 5280): parse, verify, build chains.

Parsing is `cryptography`'s (a well-kept X.509 parser; it has no SM2, so the SM2 public key and the
SM2-with-SM3 signature are handled here, the signature verified natively). Nothing here decides who is
trusted: callers pass the roots and the time (the kernel's trusted clock), and get a precise error.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from cryptography import x509 as _cx509
from cryptography.hazmat.primitives.serialization import Encoding
from pyasn1.codec.der import decoder as _der_decoder
from pyasn1.codec.der import encoder as _der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1_modules import rfc5280

from bidkernel.crypto import oids, sm2
from bidkernel.crypto.errors import CryptoError
from bidkernel.crypto.sm3 import sm3

#: OpenSSL 3.0 signs and verifies X.509 SM2 signatures with an EMPTY distinguishing ID unless told
#: ``-sigopt/-vfyopt distid:1234567812345678``; GM/T 0015 certificates use the GM/T 0009 default ID.
OPENSSL_DEFAULT_ID = b""
#: IDs to try for certificates from both worlds: the standard's first, then OpenSSL's default.
INTEROP_IDS: tuple[bytes, ...] = (sm2.DEFAULT_ID, OPENSSL_DEFAULT_ID)


class CertificateError(CryptoError):
    """A certificate could not be parsed or did not pass a check. ``code`` is stable for APIs."""

    def __init__(self, code: CertErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class CertErrorCode(StrEnum):
    MALFORMED = "malformed"
    UNSUPPORTED_KEY = "unsupported-key"
    UNSUPPORTED_SIGNATURE = "unsupported-signature-algorithm"
    BAD_SIGNATURE = "bad-signature"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    UNTRUSTED = "untrusted"
    NOT_A_CA = "issuer-not-ca"
    KEY_USAGE = "key-usage"
    PATH_LENGTH = "path-length"


class KeyUsage(StrEnum):
    """RFC 5280 §4.2.1.3 key usage bits, by the names `cryptography` uses."""

    DIGITAL_SIGNATURE = "digital_signature"
    CONTENT_COMMITMENT = "content_commitment"
    KEY_ENCIPHERMENT = "key_encipherment"
    DATA_ENCIPHERMENT = "data_encipherment"
    KEY_AGREEMENT = "key_agreement"
    KEY_CERT_SIGN = "key_cert_sign"
    CRL_SIGN = "crl_sign"


_E = TypeVar("_E", bound=_cx509.ExtensionType)


def _utc(t: _dt.datetime) -> _dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True, eq=False)
class Certificate:
    """An X.509 certificate carrying an SM2 public key (GM/T 0015 §6)."""

    der: bytes
    _cert: _cx509.Certificate
    spki_der: bytes
    public_key: bytes  # SEC1 uncompressed point, 65 bytes

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        try:
            cert = _cx509.load_der_x509_certificate(der)
            tbs, rest = _der_decoder.decode(cert.tbs_certificate_bytes, asn1Spec=rfc5280.TBSCertificate())
            # cryptography parses lazily: touch every field now so a malformed one fails here, not later
            _ = (cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cert.serial_number)
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, list(cert.extensions), cert.signature)
        except (ValueError, PyAsn1Error) as exc:
            raise CertificateError(CertErrorCode.MALFORMED, f"not a DER X.509 certificate: {exc}") from None
        if rest:
            raise CertificateError(CertErrorCode.MALFORMED, "trailing bytes after TBSCertificate")
        if cert.public_bytes(Encoding.DER) != der:
            raise CertificateError(CertErrorCode.MALFORMED, "trailing bytes after the certificate")
        spki = tbs["subjectPublicKeyInfo"]
        spki_der = _der_encoder.encode(spki)
        try:
            point = sm2.load_public_key(spki_der)
        except CryptoError:
            raise CertificateError(CertErrorCode.UNSUPPORTED_KEY, "the subject key is not an SM2 public key") from None
        return cls(der=der, _cert=cert, spki_der=spki_der, public_key=point)

    @classmethod
    def from_pem(cls, pem: bytes) -> Certificate:
        try:
            cert = _cx509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise CertificateError(CertErrorCode.MALFORMED, f"not a PEM X.509 certificate: {exc}") from None
        return cls.from_der(cert.public_bytes(Encoding.DER))

    @classmethod
    def load(cls, data: bytes) -> Certificate:
        """PEM or DER, whichever ``data`` is."""
        return cls.from_pem(data) if data.lstrip().startswith(b"-----BEGIN") else cls.from_der(data)

    def to_pem(self) -> bytes:
        return self._cert.public_bytes(Encoding.PEM)

    # ---------------------------------------------------------------- facts
    @property
    def subject(self) -> str:
        return self._cert.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        return self._cert.issuer.rfc4514_string()

    @property
    def subject_der(self) -> bytes:
        return self._cert.subject.public_bytes()

    @property
    def issuer_der(self) -> bytes:
        return self._cert.issuer.public_bytes()

    @property
    def serial_number(self) -> int:
        return self._cert.serial_number

    @property
    def not_before(self) -> _dt.datetime:
        return self._cert.not_valid_before_utc

    @property
    def not_after(self) -> _dt.datetime:
        return self._cert.not_valid_after_utc

    @property
    def fingerprint(self) -> bytes:
        """SM3 over the certificate's DER: how receipts and logs name a certificate."""
        return sm3(self.der)

    @property
    def tbs_der(self) -> bytes:
        return self._cert.tbs_certificate_bytes

    @property
    def signature(self) -> bytes:
        return self._cert.signature

    @property
    def signature_algorithm(self) -> str:
        return self._cert.signature_algorithm_oid.dotted_string

    @property
    def is_ca(self) -> bool:
        bc = self._ext(_cx509.BasicConstraints)
        return bool(bc and bc.ca)

    @property
    def path_length(self) -> int | None:
        bc = self._ext(_cx509.BasicConstraints)
        return bc.path_length if bc else None

    def key_usages(self) -> set[KeyUsage] | None:
        """The key-usage bits, or None when the extension is absent (any usage allowed, RFC 5280 §4.2.1.3)."""
        ku = self._ext(_cx509.KeyUsage)
        if ku is None:
            return None
        return {u for u in KeyUsage if getattr(ku, u.value)}

    def _ext(self, kind: type[_E]) -> _E | None:
        try:
            return self._cert.extensions.get_extension_for_class(kind).value
        except _cx509.ExtensionNotFound:
            return None

    def __repr__(self) -> str:
        return (
            f"Certificate(subject={self.subject!r}, serial={self.serial_number:x}, sm3={self.fingerprint.hex()[:16]})"
        )

    # ---------------------------------------------------------------- checks
    def verify_signed_by(self, issuer: Certificate, *, distids: Sequence[bytes] = (sm2.DEFAULT_ID,)) -> None:
        """Check this certificate's SM2-with-SM3 signature with ``issuer``'s key (GM/T 0015 §6.2, GB/T 32918.2).

        ``distids`` are the distinguishing IDs accepted, tried in order; pass :data:`INTEROP_IDS` to also
        accept certificates signed by OpenSSL 3 with its empty default ID.
        """
        if self.signature_algorithm != oids.SM2_WITH_SM3:
            raise CertificateError(
                CertErrorCode.UNSUPPORTED_SIGNATURE,
                f"signature algorithm {self.signature_algorithm} is not SM2-with-SM3",
            )
        if not any(sm2.verify(issuer.public_key, self.tbs_der, self.signature, id=d) for d in distids):
            raise CertificateError(CertErrorCode.BAD_SIGNATURE, f"signature of {self.subject!r} does not verify")

    def check_validity(self, at: _dt.datetime) -> None:
        at = _utc(at)
        if at < self.not_before:
            raise CertificateError(CertErrorCode.NOT_YET_VALID, f"{self.subject!r} is valid from {self.not_before}")
        if at > self.not_after:
            raise CertificateError(CertErrorCode.EXPIRED, f"{self.subject!r} expired at {self.not_after}")

    def check_key_usage(self, required: Iterable[KeyUsage]) -> None:
        have = self.key_usages()
        missing = set(required) - have if have is not None else set()
        if missing:
            names = ", ".join(sorted(m.value for m in missing))
            raise CertificateError(CertErrorCode.KEY_USAGE, f"{self.subject!r} lacks key usage {names}")


def verify_chain(
    leaf: Certificate,
    *,
    roots: Sequence[Certificate],
    intermediates: Sequence[Certificate] = (),
    at: _dt.datetime,
    key_usage: Iterable[KeyUsage] = (),
    max_depth: int = 8,
    distids: Sequence[bytes] = (sm2.DEFAULT_ID,),
) -> list[Certificate]:
    """Build and check a path from ``leaf`` to one of ``roots`` (RFC 5280 §6.1, simplified).

    Checks at each step: issuer name match, SM2-with-SM3 signature, validity at ``at`` (for every
    certificate, roots included), CA basic constraint, keyCertSign usage and path length for issuers;
    ``key_usage`` on the leaf. Returns the path leaf-first, ending with the root. Raises CertificateError
    with the first failing check; when several candidate issuers exist, the most specific error is kept.
    """
    root_fps = {r.fingerprint for r in roots}
    pool = list(intermediates) + list(roots)
    leaf.check_validity(at)
    leaf.check_key_usage(key_usage)

    def extend(path: list[Certificate]) -> list[Certificate]:
        cur = path[-1]
        if cur.fingerprint in root_fps:
            return path
        if len(path) > max_depth:
            raise CertificateError(CertErrorCode.UNTRUSTED, "no path to a trusted root within the depth limit")
        last_error: CertificateError | None = None
        for cand in pool:
            if cand.subject_der != cur.issuer_der or any(cand.fingerprint == p.fingerprint for p in path):
                continue
            try:
                cur.verify_signed_by(cand, distids=distids)
                cand.check_validity(at)
                if not cand.is_ca:
                    raise CertificateError(CertErrorCode.NOT_A_CA, f"{cand.subject!r} is not a CA")
                cand.check_key_usage([KeyUsage.KEY_CERT_SIGN])
                intermediates_below = len(path) - 1  # RFC 5280 §4.2.1.9: CA certificates under cand
                if cand.path_length is not None and intermediates_below > cand.path_length:
                    raise CertificateError(CertErrorCode.PATH_LENGTH, f"path length of {cand.subject!r} exceeded")
                return extend([*path, cand])
            except CertificateError as exc:
                last_error = exc
        if last_error is not None:
            raise last_error
        raise CertificateError(CertErrorCode.UNTRUSTED, f"no trusted issuer found for {cur.subject!r}")

    return extend([leaf])
