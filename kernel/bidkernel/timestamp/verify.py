"""Verification of RFC 3161 time-stamp tokens and replies, ours and other TSAs' (e.g. ``openssl ts -reply``).

:func:`verify_token` checks, in this order, and raises :class:`VerificationError` with a stable code at the
first failure:

1. structure: canonical DER ContentInfo{signedData}, SignedData v3 with eContentType id-ct-TSTInfo
   (RFC 3161 §2.4.2), exactly one SignerInfo, digestAlgorithms containing the signer's
   (``timestamp.malformed`` / ``timestamp.verify.structure``);
2. signed attributes: contentType = id-ct-TSTInfo, messageDigest = hash of the TSTInfo (RFC 5652 §5.4,
   §11.1-11.2), and a signingCertificateV2 (RFC 5816 §2.2.1) or signingCertificate (RFC 2634 §5.4) whose
   first ESSCertID names the signer certificate by hash and issuerSerial (``...ess_mismatch``);
3. the signature over the DER SET OF signed attributes (RFC 5652 §5.4) with the signer's key
   (``...bad_signature``, ``...bad_alg``);
4. the signer certificate (every certificate the token carries must lie on the validated path):
   extendedKeyUsage critical and only timeStamping (RFC 3161 §2.3,
   ``...not_tsa_certificate``); a path to one of the trust anchors, every signature checked, CA
   constraints, no unknown critical extension, every certificate valid at the validation time
   (``...untrusted_certificate``, ``...certificate_expired``); genTime inside the TSA certificate's
   validity (``...gentime_outside_validity``);
5. the content: TSTInfo v1, the expected message imprint (``...imprint_mismatch``), nonce
   (``...nonce_mismatch``) and policy (``...policy_mismatch``); no critical TSTInfo extension.

Revocation (CRL/OCSP) is not checked here.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from bidkernel.timestamp import asn1, der
from bidkernel.timestamp.errors import MalformedError, VerificationError
from bidkernel.timestamp.signers import DEFAULT_SM2_ID, verify_issued_by, verify_signature
from bidkernel.timestamp.tsa import FAIL_BITS, GRANTED, GRANTED_WITH_MODS, Digest

MAX_CHAIN = 8
_KNOWN_CRITICAL = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.CERTIFICATE_POLICIES,
}


def _fail(code: str, message: str) -> VerificationError:
    return VerificationError(message, code=f"timestamp.verify.{code}")


@dataclass(frozen=True)
class Trust:
    """What a token is verified against: trust anchors, extra untrusted certificates (e.g. the TSA's own
    when tokens come without it), the validation time for the chain (default: now) and the SM2 ID."""

    anchors: Sequence[x509.Certificate]
    untrusted: Sequence[x509.Certificate] = ()
    at: datetime | None = None
    sm2_id: bytes = DEFAULT_SM2_ID
    cert_sm2_ids: tuple[bytes, ...] = (DEFAULT_SM2_ID,)

    @classmethod
    def from_files(
        cls,
        cafile: str | Path,
        untrusted: str | Path | None = None,
        *,
        at: datetime | None = None,
        sm2_id: bytes = DEFAULT_SM2_ID,
    ) -> Trust:
        anchors = x509.load_pem_x509_certificates(Path(cafile).read_bytes())
        extra = x509.load_pem_x509_certificates(Path(untrusted).read_bytes()) if untrusted else []
        return cls(anchors, extra, at, sm2_id)

    def _issued(self, child: x509.Certificate, parent: x509.Certificate) -> bool:
        return verify_issued_by(child, parent, sm2_ids=self.cert_sm2_ids)


@dataclass(frozen=True)
class TSTInfoSummary:
    """What a verified token says (RFC 3161 §2.4.2 TSTInfo) and who signed it."""

    policy: str
    hash_algorithm: str
    message_imprint: bytes
    serial_number: int
    gen_time: datetime
    accuracy: float | None
    ordering: bool
    nonce: int | None
    tsa_name: str | None
    signer_subject: str = ""
    signer_sha256: str = ""
    signature_algorithm: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplySummary:
    """A parsed TimeStampResp (RFC 3161 §2.4.2): status, failInfo names, statusString, token bytes."""

    status: int
    fail_info: tuple[str, ...]
    status_text: tuple[str, ...]
    token: bytes | None


@dataclass(frozen=True)
class RequestSummary:
    version: int
    hash_algorithm: str
    message_imprint: bytes
    policy: str | None
    nonce: int | None
    cert_req: bool


# --- parsing ------------------------------------------------------------------------------------
def parse_request(data: bytes) -> RequestSummary:
    req = asn1.decode_request(data)
    alg = req["messageImprint"]["hashAlgorithm"]
    h = asn1.HASHES_BY_OID.get(asn1.oid_str(alg["algorithm"]))
    return RequestSummary(
        int(req["version"]),
        h.name if h else asn1.oid_str(alg["algorithm"]),
        bytes(req["messageImprint"]["hashedMessage"]),
        asn1.oid_str(req["reqPolicy"]) if req["reqPolicy"].isValue else None,
        int(req["nonce"]) if req["nonce"].isValue else None,
        bool(req["certReq"]),
    )


def parse_reply(data: bytes) -> ReplySummary:
    resp = asn1.decode_response(data)
    st = resp["status"]
    fails: list[str] = []
    if st["failInfo"].isValue:
        bits = tuple(st["failInfo"])
        fails = [name for name, n in FAIL_BITS.items() if n < len(bits) and bits[n]]
    texts = tuple(str(t) for t in st["statusString"]) if st["statusString"].isValue else ()
    token = asn1.encode(resp["timeStampToken"]) if resp["timeStampToken"].isValue else None
    return ReplySummary(int(st["status"]), tuple(fails), texts, token)


def _accuracy(acc: Any) -> float | None:
    if not acc.isValue:
        return None
    total = 0.0
    for name, scale in (("seconds", 1.0), ("millis", 1e-3), ("micros", 1e-6)):
        if acc[name].isValue:
            total += int(acc[name]) * scale
    return total


def _tsa_name(tst: Any) -> str | None:
    if not tst["tsa"].isValue:
        return None
    gn = tst["tsa"]
    if gn.getName() == "directoryName":
        return "DirName:" + _name_str(gn["directoryName"])
    return f"{gn.getName()}:{gn.getComponent()}"


def _name_str(name: Any) -> str:
    """A readable form of a decoded Name (display only; comparisons use DER bytes)."""
    from pyasn1.codec.der import decoder
    from pyasn1.error import PyAsn1Error
    from pyasn1_modules import rfc5280

    parts = []
    for rdn in name["rdnSequence"]:
        for atv in rdn:
            try:
                value, _ = decoder.decode(bytes(atv["value"]), asn1Spec=rfc5280.DirectoryString())
                text = str(value.getComponent())
            except PyAsn1Error:
                text = "#" + bytes(atv["value"]).hex()
            parts.append(f"{asn1.oid_str(atv['type'])}={text}")
    return ",".join(parts)


def summarize_tstinfo(tst_der: bytes) -> TSTInfoSummary:
    tst = asn1.decode_tstinfo(tst_der)
    if int(tst["version"]) != 1:
        raise _fail("structure", "TSTInfo version is not 1")
    alg = tst["messageImprint"]["hashAlgorithm"]
    h = asn1.HASHES_BY_OID.get(asn1.oid_str(alg["algorithm"]))
    return TSTInfoSummary(
        policy=asn1.oid_str(tst["policy"]),
        hash_algorithm=h.name if h else asn1.oid_str(alg["algorithm"]),
        message_imprint=bytes(tst["messageImprint"]["hashedMessage"]),
        serial_number=int(tst["serialNumber"]),
        gen_time=asn1.parse_gentime(bytes(tst["genTime"]).decode("ascii", "replace")),
        accuracy=_accuracy(tst["accuracy"]),
        ordering=bool(tst["ordering"]),
        nonce=int(tst["nonce"]) if tst["nonce"].isValue else None,
        tsa_name=_tsa_name(tst),
        extra={"critical_extensions": [asn1.oid_str(e["extnID"]) for e in tst["extensions"] if bool(e["critical"])]}
        if tst["extensions"].isValue
        else {},
    )


@dataclass(frozen=True)
class _Token:
    tst_der: bytes
    certs: tuple[x509.Certificate, ...]
    signer_info: Any
    digest_oid: str
    signature_oid: str
    signed_attrs_der: bytes


def _parse_token(token: bytes) -> _Token:
    ci = asn1.decode_content_info(token)
    if asn1.oid_str(ci["contentType"]) != asn1.ID_SIGNED_DATA:
        raise _fail("structure", "token is not a CMS SignedData")
    sd = asn1.decode_signed_data(bytes(ci["content"]))
    if int(sd["version"]) != 3:
        raise _fail("structure", "SignedData version must be 3 (RFC 5652 §5.1)")
    eci = sd["encapContentInfo"]
    if asn1.oid_str(eci["eContentType"]) != asn1.ID_CT_TSTINFO or not eci["eContent"].isValue:
        raise _fail("structure", "encapsulated content is not a TSTInfo (RFC 3161 §2.4.2)")
    if sd["crls"].isValue:
        raise _fail("structure", "revocation data inside tokens is not supported")
    if len(sd["signerInfos"]) != 1:
        raise _fail("structure", "a TimeStampToken carries exactly one signature (RFC 3161 §2.4.2)")
    si = sd["signerInfos"][0]
    certs: list[x509.Certificate] = []
    if sd["certificates"].isValue:
        for raw in sd["certificates"]:
            try:
                with warnings.catch_warnings():
                    # RFC 5280 §4.1.2.2: a non-positive serial makes cryptography warn; here it rejects
                    warnings.simplefilter("error", CryptographyDeprecationWarning)
                    cert = x509.load_der_x509_certificate(bytes(raw))
                    _ = cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc
                certs.append(cert)
            except Exception:  # InvalidVersion is not a ValueError
                raise _fail("structure", "a certificate in the token does not parse") from None
    digest_alg = si["digestAlgorithm"]
    if not asn1.algorithm_params_ok(digest_alg):
        raise _fail("bad_alg", "digest algorithm parameters must be absent or NULL")
    digest_oid = asn1.oid_str(digest_alg["algorithm"])
    listed = [asn1.oid_str(a["algorithm"]) for a in sd["digestAlgorithms"]]
    params_ok = all(asn1.algorithm_params_ok(a) for a in sd["digestAlgorithms"])
    if digest_oid not in listed or any(o not in asn1.HASHES_BY_OID for o in listed) or not params_ok:
        raise _fail("structure", "digestAlgorithms does not list the signer's digest algorithm")
    if int(si["version"]) not in (1, 3) or si["unsignedAttrs"].isValue:
        raise _fail("structure", "unexpected SignerInfo version or unsigned attributes")
    if not si["signedAttrs"].isValue:
        raise _fail("structure", "signed attributes are required (RFC 3161 §2.4.2)")
    signed = asn1.encode(si["signedAttrs"])
    sig_alg = si["signatureAlgorithm"]
    if sig_alg["parameters"].isValue:
        raise _fail("bad_alg", "signature algorithm parameters must be absent")
    return _Token(
        bytes(eci["eContent"]), tuple(certs), si, digest_oid, asn1.oid_str(sig_alg["algorithm"]), b"\x31" + signed[1:]
    )


def describe_token(token: bytes) -> TSTInfoSummary:
    """What a token *says*, without verifying it (display only: ``ts reply -in ... -text``)."""
    try:
        return summarize_tstinfo(_parse_token(token).tst_der)
    except VerificationError:
        raise
    except MalformedError as exc:
        raise VerificationError(str(exc.args[0]), code="timestamp.verify.malformed") from None


def _attrs(si: Any) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for attr in si["signedAttrs"]:
        oid = asn1.oid_str(attr["attrType"])
        if oid in out:
            raise _fail("structure", "a signed attribute appears twice (RFC 5652 §5.3)")
        out[oid] = [bytes(v) for v in attr["attrValues"]]
    return out


def _one(attrs: dict[str, list[bytes]], oid: str, what: str) -> bytes | None:
    values = attrs.get(oid)
    if values is None:
        return None
    if len(values) != 1:
        raise _fail("structure", f"{what} must have exactly one value")
    return values[0]


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def _find_signer(tok: _Token, pool: Sequence[x509.Certificate]) -> x509.Certificate:
    sid = tok.signer_info["sid"]
    if sid.getName() == "issuerAndSerialNumber":
        ias = sid["issuerAndSerialNumber"]
        issuer = asn1.encode(ias["issuer"])
        serial = int(ias["serialNumber"])
        for c in pool:
            if c.serial_number == serial and c.issuer.public_bytes() == issuer:
                return c
    else:
        ski = bytes(sid["subjectKeyIdentifier"])
        for c in pool:
            try:
                if c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == ski:
                    return c
            except x509.ExtensionNotFound:
                continue
    raise _fail("untrusted_certificate", "the TSA certificate is neither in the token nor among the given certificates")


def _check_ess(attrs: dict[str, list[bytes]], signer: x509.Certificate) -> None:
    """RFC 5816 §2.2.1 / RFC 2634 §5.4: the first ESSCertID identifies the signer certificate."""
    v2 = _one(attrs, asn1.ID_AA_SIGNING_CERTIFICATE_V2, "signingCertificateV2")
    v1 = _one(attrs, asn1.ID_AA_SIGNING_CERTIFICATE, "signingCertificate")
    cert_der = _der(signer)
    checked = False
    for raw, spec, is_v2 in ((v2, asn1.SIGNING_CERTIFICATE_V2_SPEC, True), (v1, asn1.SIGNING_CERTIFICATE_SPEC, False)):
        if raw is None:
            continue
        value = asn1.decode_attribute_value(raw, spec(), "signingCertificate")
        first = value["certs"][0]
        if is_v2:
            h = asn1.HASHES_BY_OID.get(asn1.oid_str(first["hashAlgorithm"]["algorithm"]))
            if h is None:
                raise _fail("bad_alg", "unsupported ESSCertIDv2 hash algorithm")
            want = h.fn(cert_der)
        else:
            want = hashlib.sha1(cert_der, usedforsecurity=False).digest()
        if bytes(first["certHash"]) != want:
            raise _fail("ess_mismatch", "signingCertificate does not match the signer certificate")
        if first["issuerSerial"].isValue:
            iss = first["issuerSerial"]
            names = [asn1.encode(g["directoryName"]) for g in iss["issuer"] if g.getName() == "directoryName"]
            # the directoryName [4] choice is explicitly tagged (X.680 §31.2.7)
            if (
                int(iss["serialNumber"]) != signer.serial_number
                or der.context(4, signer.issuer.public_bytes()) not in names
            ):
                raise _fail("ess_mismatch", "signingCertificate issuerSerial does not match the signer certificate")
        checked = True
    if not checked:
        raise _fail("ess_mismatch", "no signingCertificate(V2) attribute (RFC 3161 §2.4.1, RFC 5816)")


def _validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def _check_tsa_cert(cert: x509.Certificate) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise _fail("not_tsa_certificate", "the signer certificate has no extendedKeyUsage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise _fail("not_tsa_certificate", "extendedKeyUsage must be critical and only timeStamping (RFC 3161 §2.3)")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (ku.digital_signature or ku.content_commitment):
            raise _fail("not_tsa_certificate", "keyUsage does not allow signatures")
    except x509.ExtensionNotFound:
        pass


def _check_extensions(cert: x509.Certificate) -> None:
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _KNOWN_CRITICAL:
            raise _fail("untrusted_certificate", f"unsupported critical extension {ext.oid.dotted_string}")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return bool(cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign)
    except x509.ExtensionNotFound:
        return True


def _build_path(signer: x509.Certificate, trust: Trust, extra: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """RFC 5280 §6.1 (basic path validation, without policies and revocation): signer -> ... -> anchor."""
    anchors = {_der(a): a for a in trust.anchors}
    intermediates = [c for c in (*extra, *trust.untrusted) if _der(c) not in anchors]
    path = [signer]
    current = signer
    for _ in range(MAX_CHAIN):
        if _der(current) in anchors:
            return path
        parent = next((a for a in anchors.values() if trust._issued(current, a)), None)
        if parent is not None:
            path.append(parent)
            return path
        parent = next((c for c in intermediates if c not in path and _is_ca(c) and trust._issued(current, c)), None)
        if parent is None:
            break
        path.append(parent)
        current = parent
    raise _fail("untrusted_certificate", "no path from the TSA certificate to a trust anchor")


def verify_token(
    token: bytes,
    data_or_digest: bytes | Digest | None,
    trust: Trust,
    *,
    nonce: int | None = None,
    policy: str | None = None,
) -> TSTInfoSummary:
    """Verify a DER TimeStampToken; ``data_or_digest`` is the stamped data (hashed with the token's
    imprint algorithm) or a :class:`Digest`, or ``None`` to skip the imprint check (then the caller must
    compare ``message_imprint`` itself). Returns the TSTInfo summary; raises :class:`VerificationError`."""
    try:
        tok = _parse_token(token)
        attrs = _attrs(tok.signer_info)
        ct = _one(attrs, asn1.ID_CONTENT_TYPE, "contentType")
        if ct != der.oid(asn1.ID_CT_TSTINFO):
            raise _fail("structure", "contentType attribute is not id-ct-TSTInfo")
        md = _one(attrs, asn1.ID_MESSAGE_DIGEST, "messageDigest")
        digest_alg = asn1.HASHES_BY_OID.get(tok.digest_oid)
        if digest_alg is None:
            raise _fail("bad_alg", "unsupported digest algorithm")
        if md != der.octet_string(digest_alg.fn(tok.tst_der)):
            raise _fail("bad_signature", "messageDigest does not match the TSTInfo")
        signer = _find_signer(tok, (*tok.certs, *trust.untrusted, *trust.anchors))
        _check_ess(attrs, signer)
        verify_signature(
            signer,
            tok.digest_oid,
            tok.signature_oid,
            tok.signed_attrs_der,
            bytes(tok.signer_info["signature"]),
            sm2_id=trust.sm2_id,
        )
        _check_tsa_cert(signer)
        path = _build_path(signer, trust, tok.certs)
        at = trust.at or datetime.now(UTC)
        for cert in path:
            _check_extensions(cert)
            nb, na = _validity(cert)
            if not nb <= at <= na:
                raise _fail(
                    "certificate_expired",
                    f"certificate {cert.subject.rfc4514_string()} is not valid at {at:%Y-%m-%dT%H:%M:%SZ}",
                )
        for cert in path[1:]:
            if not _is_ca(cert):
                raise _fail("untrusted_certificate", "an issuing certificate is not a CA")
        in_path = {_der(c) for c in path}
        if any(_der(c) not in in_path for c in tok.certs):
            # every certificate the token carries must be on the validated path, so no byte of it goes unchecked
            raise _fail("structure", "the token carries a certificate that is not on its validated path")
        summary = summarize_tstinfo(tok.tst_der)
    except VerificationError:
        raise
    except MalformedError as exc:
        raise VerificationError(str(exc.args[0]), code="timestamp.verify.malformed") from None
    except Exception as exc:  # fail closed: anything unexpected in hostile input is a rejection
        raise VerificationError(
            f"token could not be processed ({type(exc).__name__})", code="timestamp.verify.malformed"
        ) from None
    nb, na = _validity(signer)
    if not nb <= summary.gen_time <= na:
        raise _fail("gentime_outside_validity", "genTime is outside the TSA certificate's validity (RFC 3161 §2.3)")
    if summary.extra.get("critical_extensions"):
        raise _fail("structure", "the TSTInfo has a critical extension this verifier does not know")
    if data_or_digest is not None:
        if isinstance(data_or_digest, Digest):
            want_alg = asn1.hash_by_name(data_or_digest.algorithm)
            want = data_or_digest.value
            if summary.hash_algorithm != want_alg.name or summary.message_imprint != want:
                raise _fail("imprint_mismatch", "the token does not stamp this digest")
        else:
            h = asn1.HASHES.get(summary.hash_algorithm)
            if h is None or h.fn(bytes(data_or_digest)) != summary.message_imprint:
                raise _fail("imprint_mismatch", "the token does not stamp this data")
    if nonce is not None and summary.nonce != nonce:
        raise _fail("nonce_mismatch", "the token's nonce is not the request's")
    if policy is not None and summary.policy != policy:
        raise _fail("policy_mismatch", "the token was issued under another policy")
    return TSTInfoSummary(
        **{
            **summary.__dict__,
            "signer_subject": signer.subject.rfc4514_string(),
            "signer_sha256": hashlib.sha256(_der(signer)).hexdigest(),
            "signature_algorithm": tok.signature_oid,
        }
    )


def verify_reply(
    reply: bytes,
    data_or_digest: bytes | Digest | None,
    trust: Trust,
    *,
    nonce: int | None = None,
    policy: str | None = None,
) -> TSTInfoSummary:
    """Verify a DER TimeStampResp: status granted (or grantedWithMods), then :func:`verify_token`."""
    try:
        rep = parse_reply(reply)
    except MalformedError as exc:
        raise VerificationError(str(exc.args[0]), code="timestamp.verify.malformed") from None
    if rep.status not in (GRANTED, GRANTED_WITH_MODS) or rep.token is None:
        why = ", ".join(rep.fail_info) or "no token"
        raise _fail("not_granted", f"the TSA did not grant the request (status {rep.status}: {why})")
    return verify_token(rep.token, data_or_digest, trust, nonce=nonce, policy=policy)


def verify_against_request(
    reply_or_token: bytes, request: bytes, trust: Trust, *, is_token: bool = False
) -> TSTInfoSummary:
    """``openssl ts -verify -queryfile``: the imprint, nonce and policy of ``request`` must be in the token."""
    try:
        req = parse_request(request)
    except MalformedError as exc:
        raise VerificationError(str(exc.args[0]), code="timestamp.verify.malformed") from None
    digest = Digest(req.hash_algorithm, req.message_imprint)
    fn = verify_token if is_token else verify_reply
    return fn(reply_or_token, digest, trust, nonce=req.nonce, policy=req.policy)
