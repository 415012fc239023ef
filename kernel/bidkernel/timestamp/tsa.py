"""The kernel's own time-stamping authority (RFC 3161, with the ESSCertIDv2 update of RFC 5816).

:meth:`TimeStampAuthority.respond` turns a DER ``TimeStampReq`` (RFC 3161 §2.4.1) into a DER
``TimeStampResp`` (§2.4.2) and never raises for a bad request: it answers ``rejection`` with a
``failInfo`` bit (badAlg, badRequest, badDataFormat, timeNotAvailable, unacceptedPolicy,
unacceptedExtension, systemFailure). :meth:`TimeStampAuthority.stamp` is the in-kernel call (receipts,
closing checkpoints, opening records) and returns the ``TimeStampToken`` bytes.

Token layout (RFC 3161 §2.4.2, RFC 5652 §5): ContentInfo{signedData} with SignedData v3, one SignerInfo
v1 (issuerAndSerialNumber), signed attributes contentType = id-ct-TSTInfo, messageDigest and
signingCertificateV2 (RFC 5035 ESSCertIDv2 with issuerSerial; the hash is SHA-256 for the ECDSA profile,
where it is the DEFAULT and so omitted, and SM3 for the SM2 profile). The TSA certificate is included
when the request sets ``certReq`` (§2.4.1). genTime has millisecond precision and ``accuracy`` states the
clock's uncertainty plus that truncation.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from bidkernel.timestamp import asn1, der
from bidkernel.timestamp.clock import TimeReading
from bidkernel.timestamp.errors import ConfigError, MalformedError, TimestampError
from bidkernel.timestamp.serials import SerialSource
from bidkernel.timestamp.signers import Signer, spki

log = logging.getLogger("bidkernel.timestamp")

# PKIStatus (RFC 3161 §2.4.2)
GRANTED = 0
GRANTED_WITH_MODS = 1
REJECTION = 2
WAITING = 3

# PKIFailureInfo bit numbers (RFC 3161 §2.4.2)
FAIL_BITS = {
    "badAlg": 0,
    "badRequest": 2,
    "badDataFormat": 5,
    "timeNotAvailable": 14,
    "unacceptedPolicy": 15,
    "unacceptedExtension": 16,
    "addInfoNotAvailable": 17,
    "systemFailure": 25,
}

DEFAULT_HASHES = ("sha256", "sha384", "sha512", "sm3")
MAX_REQUEST_BYTES = 16 * 1024


class ClockLike(Protocol):
    def read(self) -> TimeReading: ...


@dataclass(frozen=True)
class Digest:
    """A digest already computed by the caller, with its algorithm name (``sha256``, ``sm3``, ...)."""

    algorithm: str
    value: bytes


class Rejection(Exception):
    """Internal: a request the TSA refuses (RFC 3161 §2.4.2 failInfo)."""

    def __init__(self, fail: str, text: str) -> None:
        super().__init__(text)
        self.fail = fail
        self.text = text


def _bit_string(bits: Iterable[int]) -> bytes:
    """A named BIT STRING in DER: trailing zero bits removed (X.690 §11.2.2)."""
    bits = sorted(set(bits))
    if not bits:
        return der.tlv(der.BIT_STRING, b"\x00")
    top = bits[-1]
    buf = bytearray(top // 8 + 1)
    for b in bits:
        buf[b // 8] |= 0x80 >> (b % 8)
    return der.tlv(der.BIT_STRING, bytes([7 - top % 8]) + bytes(buf))


def rejection_response(fail: str, text: str) -> bytes:
    """TimeStampResp with status rejection, a statusString and one failInfo bit (RFC 3161 §2.4.2)."""
    status = der.seq(
        der.integer(REJECTION), der.seq(der.tlv(der.UTF8_STRING, text.encode())), _bit_string([FAIL_BITS[fail]])
    )
    return der.seq(status)


def check_tsa_certificate(cert: x509.Certificate) -> None:
    """RFC 3161 §2.3: exactly one, critical, extendedKeyUsage with only id-kp-timeStamping."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise ConfigError("the TSA certificate lacks the extendedKeyUsage extension (RFC 3161 §2.3)") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise ConfigError(
            "the TSA certificate's extendedKeyUsage must be critical and only timeStamping (RFC 3161 §2.3)"
        )


def accuracy_of(uncertainty: float, digits: int) -> tuple[int, int, int]:
    """(seconds, millis, micros) covering the clock's uncertainty plus genTime truncation."""
    total_us = math.ceil(round((uncertainty + 10.0**-digits) * 1_000_000, 3))
    total_us = max(total_us, 1)
    return total_us // 1_000_000, (total_us // 1000) % 1000, total_us % 1000


class TimeStampAuthority:
    def __init__(
        self,
        *,
        signer: Signer,
        certificate: x509.Certificate,
        policy: str,
        serials: SerialSource,
        clock: ClockLike,
        chain: Sequence[x509.Certificate] = (),
        accepted_policies: Sequence[str] = (),
        hashes: Sequence[str] = DEFAULT_HASHES,
        include_tsa_name: bool = True,
        include_chain: bool = False,
        precision_digits: int = 3,
    ) -> None:
        check_tsa_certificate(certificate)
        if spki(certificate).point != signer.public_point():
            raise ConfigError("the TSA key does not match the TSA certificate")
        try:
            der.oid(policy)
            for p in accepted_policies:
                der.oid(p)
        except ValueError as exc:
            raise ConfigError(f"bad policy OID: {exc}") from None
        if not 0 <= precision_digits <= 6:
            raise ConfigError("precision_digits must be 0..6")
        self.signer = signer
        self.profile = signer.profile
        self.certificate = certificate
        self.chain = tuple(chain)
        self.policy = policy
        self.accepted_policies = frozenset((policy, *accepted_policies))
        self.hashes = {asn1.hash_by_name(h).oid: asn1.hash_by_name(h) for h in hashes}
        self.serials = serials
        self.clock = clock
        self.digits = precision_digits
        self.include_chain = include_chain
        # everything that does not change per token is encoded once
        from cryptography.hazmat.primitives.serialization import Encoding

        self._cert_der = certificate.public_bytes(Encoding.DER)
        self._chain_der = [c.public_bytes(Encoding.DER) for c in self.chain]
        issuer = certificate.issuer.public_bytes()
        serial = der.integer(certificate.serial_number)
        self._sid = der.seq(issuer, serial)
        ess_hash = self.profile.digest
        ess_id = []
        if ess_hash.oid != asn1.SHA256:  # hashAlgorithm DEFAULT sha256 is omitted in DER (RFC 5035 §4)
            ess_id.append(der.algorithm(ess_hash.oid))
        ess_id.append(der.octet_string(ess_hash.fn(self._cert_der)))
        ess_id.append(der.seq(der.seq(der.context(4, issuer)), serial))  # IssuerSerial, GeneralNames{directoryName}
        self._signing_cert_attr = der.seq(
            der.oid(asn1.ID_AA_SIGNING_CERTIFICATE_V2), der.set_of(der.seq(der.seq(der.seq(*ess_id))))
        )
        self._content_type_attr = der.seq(der.oid(asn1.ID_CONTENT_TYPE), der.set_of(der.oid(asn1.ID_CT_TSTINFO)))
        self._digest_alg = der.algorithm(self.profile.digest.oid)
        self._sig_alg = der.algorithm(self.profile.signature_oid)
        self._tsa_name = der.context(0, der.context(4, certificate.subject.public_bytes())) if include_tsa_name else b""

    def __repr__(self) -> str:
        return f"<TimeStampAuthority profile={self.profile.name} policy={self.policy} signer={self.signer!r}>"

    # --- the protocol -----------------------------------------------------------------------------
    def respond(self, request: bytes) -> bytes:
        """Answer one DER TimeStampReq with a DER TimeStampResp (RFC 3161 §2.4). Never raises."""
        try:
            alg_der, hash_alg, digest, nonce, cert_req, policy = self._parse(request)
            token = self._issue(alg_der, hash_alg, digest, nonce=nonce, cert_req=cert_req, policy=policy)
        except Rejection as rej:
            return rejection_response(rej.fail, rej.text)
        except Exception:  # never a 500 for a request: RFC 3161 has an answer for internal failures
            log.exception("TSA failed on a request")
            return rejection_response("systemFailure", "internal error")
        return der.seq(der.seq(der.integer(GRANTED)), token)

    def _parse(self, request: bytes) -> tuple[bytes, asn1.HashAlgorithm, bytes, int | None, bool, str]:
        if len(request) > MAX_REQUEST_BYTES:
            raise Rejection("badDataFormat", "request too large")
        try:
            req = asn1.decode_request(request)
        except MalformedError:
            raise Rejection("badDataFormat", "request is not a DER TimeStampReq") from None
        if int(req["version"]) != 1:
            raise Rejection("badRequest", "unsupported TimeStampReq version")
        imprint = req["messageImprint"]
        alg = imprint["hashAlgorithm"]
        hash_alg = self.hashes.get(asn1.oid_str(alg["algorithm"]))
        if hash_alg is None or not asn1.algorithm_params_ok(alg):
            raise Rejection("badAlg", "unsupported hash algorithm")
        digest = bytes(imprint["hashedMessage"])
        if len(digest) != hash_alg.size:
            raise Rejection("badDataFormat", "hashedMessage length does not match the hash algorithm")
        policy = self.policy
        if req["reqPolicy"].isValue:
            policy = asn1.oid_str(req["reqPolicy"])
            if policy not in self.accepted_policies:
                raise Rejection("unacceptedPolicy", "requested policy is not offered")
        if req["extensions"].isValue and len(req["extensions"]):
            raise Rejection("unacceptedExtension", "request extensions are not supported")
        nonce = int(req["nonce"]) if req["nonce"].isValue else None
        cert_req = bool(req["certReq"])
        return asn1.encode(alg), hash_alg, digest, nonce, cert_req, policy

    def _issue(
        self,
        alg_der: bytes,
        hash_alg: asn1.HashAlgorithm,
        digest: bytes,
        *,
        nonce: int | None,
        cert_req: bool,
        policy: str,
    ) -> bytes:
        try:
            reading = self.clock.read()
        except TimestampError as exc:
            log.warning("TSA refused a request: time not available (%s)", exc.code)
            raise Rejection("timeNotAvailable", "the TSA's time source is not trusted at the moment") from None
        try:
            serial = self.serials.next_serial()
        except TimestampError as exc:
            log.error("TSA serial store failure (%s)", exc.code)
            raise Rejection("systemFailure", "the TSA cannot allocate a serial number") from None
        secs, millis, micros = accuracy_of(reading.uncertainty, self.digits)
        acc = []
        if secs:
            acc.append(der.integer(secs))
        if millis:
            acc.append(der.tlv(0x80, der.integer(millis)[2:]))
        if micros:
            acc.append(der.tlv(0x81, der.integer(micros)[2:]))
        fields = [
            der.integer(1),
            der.oid(policy),
            der.seq(alg_der, der.octet_string(digest)),
            der.integer(serial),
            der.generalized_time(reading.time, digits=self.digits),
            der.seq(*acc),
        ]
        if nonce is not None:
            fields.append(der.integer(nonce))
        if self._tsa_name:
            fields.append(self._tsa_name)
        tst = der.seq(*fields)
        attrs = der.set_of(
            self._content_type_attr,
            der.seq(der.oid(asn1.ID_MESSAGE_DIGEST), der.set_of(der.octet_string(self.profile.digest.fn(tst)))),
            self._signing_cert_attr,
        )
        try:
            signature = self.signer.sign(attrs)  # over the DER SET OF, RFC 5652 §5.4
        except Exception:
            log.exception("TSA signing failed")
            raise Rejection("systemFailure", "the TSA could not sign") from None
        signer_info = der.seq(
            der.integer(1),
            self._sid,
            self._digest_alg,
            b"\xa0" + attrs[1:],  # [0] IMPLICIT SignedAttributes
            self._sig_alg,
            der.octet_string(signature),
        )
        parts = [
            der.integer(3),
            der.set_of(self._digest_alg),
            der.seq(der.oid(asn1.ID_CT_TSTINFO), der.context(0, der.octet_string(tst))),
        ]
        if cert_req:
            certs = [self._cert_der, *(self._chain_der if self.include_chain else ())]
            parts.append(der.tlv(0xA0, b"".join(sorted(certs))))
        parts.append(der.set_of(signer_info))
        return der.seq(der.oid(asn1.ID_SIGNED_DATA), der.context(0, der.seq(*parts)))

    # --- in-kernel use ----------------------------------------------------------------------------
    def stamp(self, data_or_digest: bytes | Digest, *, cert_req: bool = True, nonce: int | None = None) -> bytes:
        """Timestamp ``data`` (hashed with the profile's digest) or a caller's :class:`Digest`; return the
        DER TimeStampToken. Raises :class:`TimestampError` (code ``timestamp.refused.<failInfo>``) if the
        TSA cannot issue one, e.g. while its clock is untrusted."""
        if isinstance(data_or_digest, Digest):
            hash_alg = asn1.hash_by_name(data_or_digest.algorithm)
            digest = data_or_digest.value
            if len(digest) != hash_alg.size:
                raise ValueError(f"a {hash_alg.name} digest has {hash_alg.size} bytes")
        else:
            hash_alg = self.profile.digest
            digest = hash_alg.fn(bytes(data_or_digest))
        if hash_alg.oid not in self.hashes:
            raise ValueError(f"this TSA does not accept {hash_alg.name}")
        try:
            return self._issue(
                der.algorithm(hash_alg.oid), hash_alg, digest, nonce=nonce, cert_req=cert_req, policy=self.policy
            )
        except Rejection as rej:
            raise TimestampError(rej.text, code=f"timestamp.refused.{rej.fail}") from None


def new_nonce() -> int:
    """A 64-bit random nonce (RFC 3161 §2.4.1: a large random number with a high probability of uniqueness)."""
    return secrets.randbits(64) | (1 << 63)


def make_request(
    digest: Digest,
    *,
    nonce: int | None,
    cert_req: bool = True,
    policy: str | None = None,
    null_params: bool = True,
) -> bytes:
    """A DER TimeStampReq (RFC 3161 §2.4.1) for ``digest``; ``nonce=None`` leaves the nonce out."""
    hash_alg = asn1.hash_by_name(digest.algorithm)
    if len(digest.value) != hash_alg.size:
        raise ValueError(f"a {hash_alg.name} digest has {hash_alg.size} bytes")
    fields = [
        der.integer(1),
        der.seq(der.algorithm(hash_alg.oid, null_params=null_params), der.octet_string(digest.value)),
    ]
    if policy is not None:
        fields.append(der.oid(policy))
    if nonce is not None:
        fields.append(der.integer(nonce))
    if cert_req:
        fields.append(der.boolean(True))
    return der.seq(*fields)
