"""ASN.1 for RFC 3161 (with RFC 5816) and the CMS subset it uses (RFC 5652), read with pyasn1.

Parsing goes through pyasn1's DER decoder and the specs of ``pyasn1_modules`` (rfc3161, rfc5652,
rfc5035); the CMS ``certificates`` field is read as raw certificates (``ANY``) so that X.509 parsing is
left to ``cryptography`` and each certificate keeps its exact bytes. :func:`decode_strict` also
insists on canonical DER: the value re-encoded must give back the very input (X.690 §10), so a
token with any non-canonical byte is refused before its signature is even looked at.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, tag, univ
from pyasn1_modules import rfc3161, rfc5035, rfc5280, rfc5652

from bidkernel.timestamp.errors import MalformedError

# --- object identifiers -------------------------------------------------------------------------
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"  # RFC 5652 §5.1
ID_CT_TSTINFO = "1.2.840.113549.1.9.16.1.4"  # RFC 3161 §2.4.2
ID_CONTENT_TYPE = "1.2.840.113549.1.9.3"  # RFC 5652 §11.1
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"  # RFC 5652 §11.2
ID_SIGNING_TIME = "1.2.840.113549.1.9.5"  # RFC 5652 §11.3
ID_AA_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"  # RFC 2634 §5.4 (ESSCertID, SHA-1)
ID_AA_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # RFC 5035 §3, RFC 5816 §2.2.1
ID_KP_TIMESTAMPING = "1.3.6.1.5.5.7.3.8"  # RFC 3161 §2.3

SHA1 = "1.3.14.3.2.26"
SHA256 = "2.16.840.1.101.3.4.2.1"
SHA384 = "2.16.840.1.101.3.4.2.2"
SHA512 = "2.16.840.1.101.3.4.2.3"
SM3 = "1.2.156.10197.1.401"  # GM/T 0006, GB/T 20520

EC_PUBLIC_KEY = "1.2.840.10045.2.1"
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"  # RFC 5758 §3.2
ECDSA_WITH_SHA384 = "1.2.840.10045.4.3.3"
ECDSA_WITH_SHA512 = "1.2.840.10045.4.3.4"
SM2_WITH_SM3 = "1.2.156.10197.1.501"  # GM/T 0006 sm2sign-with-sm3
SM2_1 = "1.2.156.10197.1.301.1"  # GM/T 0006 sm2-1 (SM2 signature), used by GM/T 0010 signerInfos
SM2_CURVE = "1.2.156.10197.1.301"


@dataclass(frozen=True)
class HashAlgorithm:
    """A message-imprint / CMS digest algorithm (RFC 3161 §2.4.1 ``hashAlgorithm``)."""

    name: str
    oid: str
    size: int
    fn: Callable[[bytes], bytes]


def _sm3(data: bytes) -> bytes:
    from bidkernel.crypto.sm3 import sm3

    return sm3(data)


def _hashlib(name: str) -> Callable[[bytes], bytes]:
    return lambda data: hashlib.new(name, data).digest()


HASHES: dict[str, HashAlgorithm] = {
    h.name: h
    for h in (
        HashAlgorithm("sha256", SHA256, 32, _hashlib("sha256")),
        HashAlgorithm("sha384", SHA384, 48, _hashlib("sha384")),
        HashAlgorithm("sha512", SHA512, 64, _hashlib("sha512")),
        HashAlgorithm("sm3", SM3, 32, _sm3),
    )
}
HASHES_BY_OID: dict[str, HashAlgorithm] = {h.oid: h for h in HASHES.values()}
# SHA-1 is read only where RFC 2634's ESSCertID fixes it (OpenSSL's default signingCertificate).
SHA1_HASH = HashAlgorithm("sha1", SHA1, 20, _hashlib("sha1"))


def hash_by_name(name: str) -> HashAlgorithm:
    try:
        return HASHES[name.lower()]
    except KeyError:
        raise ValueError(f"unsupported hash algorithm {name!r}; supported: {', '.join(HASHES)}") from None


# --- specs --------------------------------------------------------------------------------------
class _RawSet(univ.SequenceOf):  # type: ignore[misc]
    """``[n] IMPLICIT SET OF`` read element by element as ANY, in the order given.

    Declared as SEQUENCE OF so that re-encoding keeps the sender's order: OpenSSL writes the PKCS#7
    certificate list unsorted (its template is SEQUENCE OF), which is harmless for a bag of certificates
    but would otherwise fail the canonical-DER check.
    """

    componentType = univ.Any()


class SignedDataRaw(univ.Sequence):  # type: ignore[misc]
    """RFC 5652 §5.1 SignedData with ``certificates``/``crls`` read as raw elements."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", rfc5652.CMSVersion()),
        namedtype.NamedType("digestAlgorithms", rfc5652.DigestAlgorithmIdentifiers()),
        namedtype.NamedType("encapContentInfo", rfc5652.EncapsulatedContentInfo()),
        namedtype.OptionalNamedType(
            "certificates", _RawSet().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0))
        ),
        namedtype.OptionalNamedType(
            "crls", _RawSet().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 1))
        ),
        namedtype.NamedType("signerInfos", rfc5652.SignerInfos()),
    )


class RawGeneralizedTime(univ.OctetString):  # type: ignore[misc]
    """GeneralizedTime kept as its exact characters.

    pyasn1 0.6's DER *encoder* rewrites fractions wrongly (it deletes every '0' among the first three
    fraction digits, so ``.309`` becomes ``.39``); reading genTime as raw characters keeps the
    canonical-DER round trip exact, and :func:`parse_gentime` applies RFC 3161 §2.4.2's rules itself.
    """

    tagSet = univ.OctetString.tagSet.tagImplicitly(tag.Tag(tag.tagClassUniversal, tag.tagFormatSimple, 24))


class TSTInfoSpec(univ.Sequence):  # type: ignore[misc]
    """RFC 3161 §2.4.2 TSTInfo as in ``pyasn1_modules.rfc3161`` but with a raw genTime."""

    componentType = namedtype.NamedTypes(
        *(
            namedtype.NamedType("genTime", RawGeneralizedTime()) if nt.name == "genTime" else nt
            for nt in rfc3161.TSTInfo.componentType.namedTypes
        )
    )


def decode_strict(data: bytes, spec: Any, what: str) -> Any:
    """Decode ``data`` as ``spec`` and insist on canonical DER with nothing after it.

    pyasn1's own messages are not passed on (they can be huge and echo input); the error names
    ``what`` and a stable code.
    """
    try:
        value, rest = der_decoder.decode(data, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError, IndexError) as exc:
        raise MalformedError(f"{what} is not valid DER of the expected structure") from exc
    if rest:
        raise MalformedError(f"{what} has {len(rest)} trailing byte(s)")
    try:
        again = der_encoder.encode(value)
    except (PyAsn1Error, ValueError, TypeError) as exc:
        raise MalformedError(f"{what} does not re-encode") from exc
    if again != data:
        raise MalformedError(f"{what} is not canonical DER (X.690 §10)")
    return value


def decode_request(data: bytes) -> Any:
    return decode_strict(data, rfc3161.TimeStampReq(), "TimeStampReq")


def decode_response(data: bytes) -> Any:
    return decode_strict(data, rfc3161.TimeStampResp(), "TimeStampResp")


def decode_tstinfo(data: bytes) -> Any:
    return decode_strict(data, TSTInfoSpec(), "TSTInfo")


def decode_content_info(data: bytes) -> Any:
    return decode_strict(data, rfc5652.ContentInfo(), "TimeStampToken")


def decode_signed_data(data: bytes) -> Any:
    return decode_strict(data, SignedDataRaw(), "SignedData")


def decode_attribute_value(data: bytes, spec: Any, what: str) -> Any:
    return decode_strict(data, spec, what)


SIGNING_CERTIFICATE_V2_SPEC = rfc5035.SigningCertificateV2
SIGNING_CERTIFICATE_SPEC = rfc5035.SigningCertificate
NAME_SPEC = rfc5280.Name


def encode(value: Any) -> bytes:
    return bytes(der_encoder.encode(value))


def oid_str(value: Any) -> str:
    return ".".join(str(a) for a in tuple(value))


def algorithm_params_ok(alg: Any) -> bool:
    """Digest AlgorithmIdentifier parameters must be absent or NULL (RFC 5754 §2, RFC 3161 §2.4.1)."""
    params = alg["parameters"]
    if not params.isValue:
        return True
    return bytes(params) == b"\x05\x00"


_GENTIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$")


def parse_gentime(text: str) -> datetime:
    """GeneralizedTime as RFC 3161 §2.4.2 constrains genTime: UTC ``Z``, seconds, fraction without
    trailing zeros. Fractions beyond microseconds are truncated."""
    m = _GENTIME.match(text)
    if not m:
        raise MalformedError("genTime is not a RFC 3161 GeneralizedTime")
    y, mo, d, h, mi, s, frac = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    except ValueError as exc:
        raise MalformedError("genTime is not a valid date") from exc
