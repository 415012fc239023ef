"""GM/T 0010-2012 digital envelopes (EnvelopedData) and detached signatures (SignedData).

Sealing: a fresh 128-bit SM4 content key and IV encrypt the content in CBC mode with PKCS#7
padding (GB/T 32907, GB/T 17964); the content key is SM2-encrypted (GM/T 0009 SM2Cipher DER) to each
recipient certificate, named by issuer and serial number. Large files stream: the DER lengths are known
before the first byte is encrypted, so the envelope is written in one pass and opened from a file offset.

Detached signatures sign a digest, never the content: signed attributes carry the content type and the
SM3 message digest (RFC 5652 §5.4 semantics, GM/T 0010 §9), and the SM2 signature (default ID) covers their
DER encoding. This lets a bidder's tool sign the SM3 of a multi-GB ciphertext it has already hashed.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyasn1.codec.der import decoder as _der_decoder
from pyasn1.codec.der import encoder as _der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import tag, univ, useful
from pyasn1_modules import rfc5280

from bidkernel.crypto import gmt0010_asn1 as asn
from bidkernel.crypto import oids, sm2, sm4
from bidkernel.crypto.errors import CryptoError, DecryptionError, InvalidSignature
from bidkernel.crypto.sm3 import sm3, sm3_file
from bidkernel.crypto.x509 import Certificate

VERSION = 1  # GM/T 0010 §8, §9: version 1 for EnvelopedData, RecipientInfo, SignedData, SignerInfo
KEY_SIZE = 16
BLOCK = 16
_CHUNK = 1 << 20
_HEADER_READ = 1 << 20  # an envelope's header (recipients, algorithms) must fit in its first MiB


class EnvelopeFormatError(CryptoError):
    """The bytes are not a well-formed GM/T 0010 envelope or signature we support."""


class NotARecipient(DecryptionError):
    """The envelope holds no RecipientInfo for the given certificate."""


# ---------------------------------------------------------------------------------------- helpers
def _alg(oid: str, params: bytes | None = None) -> rfc5280.AlgorithmIdentifier:
    a = rfc5280.AlgorithmIdentifier()
    a["algorithm"] = univ.ObjectIdentifier(oid)
    if params is not None:
        a["parameters"] = univ.Any(params)
    return a


def _issuer_and_serial(cert: Certificate) -> asn.IssuerAndSerialNumber:
    ias = asn.IssuerAndSerialNumber()
    ias["issuer"], _ = _der_decoder.decode(cert.issuer_der, asn1Spec=rfc5280.Name())
    ias["serialNumber"] = cert.serial_number
    return ias


def _same_issuer_serial(ias: asn.IssuerAndSerialNumber, cert: Certificate) -> bool:
    return _der_encoder.encode(ias["issuer"]) == cert.issuer_der and int(ias["serialNumber"]) == cert.serial_number


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv_header(tag: int, length: int) -> bytes:
    return bytes([tag]) + _der_len(length)


def _read_header(buf: bytes, off: int) -> tuple[int, int, int]:
    """(tag, length, header size) of the DER TLV at ``off``; definite, minimal lengths only (X.690 §10.1)."""
    if off + 2 > len(buf):
        raise EnvelopeFormatError("truncated DER header")
    tag, first = buf[off], buf[off + 1]
    if tag & 0x1F == 0x1F:
        raise EnvelopeFormatError("multi-byte DER tags are not used by GM/T 0010")
    if first < 0x80:
        return tag, first, 2
    n = first & 0x7F
    if n == 0 or n > 8:
        raise EnvelopeFormatError("indefinite or oversized DER length")
    if off + 2 + n > len(buf):
        raise EnvelopeFormatError("truncated DER length")
    length = int.from_bytes(buf[off + 2 : off + 2 + n], "big")
    if length < 0x80 or buf[off + 2] == 0:
        raise EnvelopeFormatError("non-minimal DER length")
    return tag, length, 2 + n


def _padded_len(n: int) -> int:
    return (n // BLOCK + 1) * BLOCK


# ---------------------------------------------------------------------------------------- sealing
@dataclass(frozen=True)
class _Prepared:
    recipient_infos: bytes  # DER of the RecipientInfos SET
    iv: bytes
    key: bytes = field(repr=False)


def _prepare(recipients: Sequence[Certificate], key: bytes | None, iv: bytes | None) -> _Prepared:
    if not recipients:
        raise ValueError("an envelope needs at least one recipient")
    key = key if key is not None else secrets.token_bytes(KEY_SIZE)
    iv = iv if iv is not None else secrets.token_bytes(BLOCK)
    if len(key) != KEY_SIZE or len(iv) != BLOCK:
        raise ValueError("SM4 content key and IV are 16 bytes each")
    infos = asn.RecipientInfos()
    for cert in recipients:
        ri = asn.RecipientInfo()
        ri["version"] = VERSION
        ri["issuerAndSerialNumber"] = _issuer_and_serial(cert)
        ri["keyEncryptionAlgorithm"] = _alg(oids.SM2_ENCRYPT)
        ri["encryptedKey"] = sm2.encrypt(cert.public_key, key, fmt="der")
        infos.append(ri)
    return _Prepared(_der_encoder.encode(infos), iv, key)


def _envelope_prefix(prep: _Prepared, ciphertext_len: int) -> bytes:
    """Every byte of the ContentInfo before the ciphertext (whose length is already known)."""
    content_type = _der_encoder.encode(univ.ObjectIdentifier(oids.GMT0010_DATA))
    algorithm = _der_encoder.encode(_alg(oids.SM4_CBC, _der_encoder.encode(univ.OctetString(prep.iv))))
    ec_head = _tlv_header(0x80, ciphertext_len)  # encryptedContent [0] IMPLICIT OCTET STRING
    eci_len = len(content_type) + len(algorithm) + len(ec_head) + ciphertext_len
    eci_head = _tlv_header(0x30, eci_len) + content_type + algorithm + ec_head
    version = _der_encoder.encode(univ.Integer(VERSION))
    env_len = len(version) + len(prep.recipient_infos) + len(_tlv_header(0x30, eci_len)) + eci_len
    env_head = _tlv_header(0x30, env_len) + version + prep.recipient_infos + eci_head
    explicit_len = len(_tlv_header(0x30, env_len)) + env_len
    ci_oid = _der_encoder.encode(univ.ObjectIdentifier(oids.GMT0010_ENVELOPED_DATA))
    ci_len = len(ci_oid) + len(_tlv_header(0xA0, explicit_len)) + explicit_len
    return bytes(_tlv_header(0x30, ci_len) + ci_oid + _tlv_header(0xA0, explicit_len) + env_head)


def seal(
    plaintext: bytes,
    recipients: Sequence[Certificate],
    *,
    content_key: bytes | None = None,
    iv: bytes | None = None,
) -> bytes:
    """Seal ``plaintext`` to every certificate in ``recipients`` (GM/T 0010 §8). Returns DER ContentInfo.

    ``content_key``/``iv`` exist for tests and for sealing several files under one key; by default both are
    fresh from the OS CSPRNG.
    """
    prep = _prepare(recipients, content_key, iv)
    ct = sm4.cbc_encrypt(prep.key, prep.iv, plaintext)
    return _envelope_prefix(prep, len(ct)) + ct


def seal_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    recipients: Sequence[Certificate],
    *,
    content_key: bytes | None = None,
    iv: bytes | None = None,
) -> int:
    """Stream-seal the file ``src`` into ``dst`` (same bytes as :func:`seal`). Returns the envelope size.

    ``dst`` appears only when complete: written to a temporary name, fsynced, then renamed.
    """
    src, dst = Path(src), Path(dst)
    prep = _prepare(recipients, content_key, iv)
    size = src.stat().st_size
    ct_len = _padded_len(size)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            prefix = _envelope_prefix(prep, ct_len)
            fout.write(prefix)
            enc = sm4.cbc_encryptor(prep.key, prep.iv)
            written = 0
            while chunk := fin.read(_CHUNK):
                out = enc.update(chunk)
                written += len(out)
                fout.write(out)
            out = enc.finalize()
            written += len(out)
            fout.write(out)
            if written != ct_len:
                raise CryptoError(f"{src} changed while it was being sealed")
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(prefix) + ct_len


def envelope_header(recipients: Sequence[Certificate], *, content_key: bytes, iv: bytes, plaintext_size: int) -> bytes:
    """The bytes before the ciphertext of the envelope :func:`seal_file` would write for a
    ``plaintext_size``-byte file under ``content_key``/``iv`` to ``recipients``.

    A bid's backup (Art. 31 remedy) is this header to the remedy certificate: with the same key and IV
    the ciphertext is the sealed bid's own, so the backup cannot change the bid.
    """
    return _envelope_prefix(_prepare(recipients, content_key, iv), _padded_len(plaintext_size))


# ---------------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class RecipientSlot:
    issuer_der: bytes
    serial_number: int
    key_encryption_algorithm: str
    encrypted_key: bytes


@dataclass(frozen=True)
class EnvelopeHeader:
    """Everything in an envelope but the ciphertext, and where the ciphertext lies."""

    recipients: tuple[RecipientSlot, ...]
    content_type: str
    algorithm: str
    iv: bytes
    ciphertext_offset: int
    ciphertext_length: int
    total_length: int

    def slot_for(self, cert: Certificate) -> RecipientSlot:
        for slot in self.recipients:
            if slot.issuer_der == cert.issuer_der and slot.serial_number == cert.serial_number:
                return slot
        raise NotARecipient(f"the envelope is not sealed to {cert.subject!r}")


def parse_header(buf: bytes) -> EnvelopeHeader:
    """Parse a GM/T 0010 ContentInfo{envelopedData} from its first bytes (at least up to the ciphertext).

    Only the header needs to be in ``buf``; ``total_length`` says how long the whole envelope must be.
    """
    tag, ci_len, h = _read_header(buf, 0)
    if tag != 0x30:
        raise EnvelopeFormatError("not a DER SEQUENCE: is this file encrypted at all?")
    total = h + ci_len
    off = h
    tag, n, h = _read_header(buf, off)
    if tag != 0x06:
        raise EnvelopeFormatError("ContentInfo.contentType missing")
    ct_oid = _decode_oid(buf[off : off + h + n])
    if ct_oid != oids.GMT0010_ENVELOPED_DATA:
        raise EnvelopeFormatError(f"content type {ct_oid} is not GM/T 0010 envelopedData")
    off += h + n
    tag, n, h = _read_header(buf, off)
    if tag != 0xA0:
        raise EnvelopeFormatError("ContentInfo.content [0] missing")
    off += h
    tag, _env_len, h = _read_header(buf, off)
    if tag != 0x30:
        raise EnvelopeFormatError("EnvelopedData is not a SEQUENCE")
    off += h
    tag, n, h = _read_header(buf, off)
    if tag != 0x02 or n != 1 or buf[off + h] != VERSION:
        raise EnvelopeFormatError("unsupported EnvelopedData version")
    off += h + n
    tag, n, h = _read_header(buf, off)
    if tag != 0x31 or off + h + n > len(buf):
        raise EnvelopeFormatError("RecipientInfos missing or truncated")
    try:
        infos, _rest = _der_decoder.decode(buf[off : off + h + n], asn1Spec=asn.RecipientInfos())
    except PyAsn1Error as exc:
        raise EnvelopeFormatError(f"malformed RecipientInfos: {exc}") from None
    off += h + n
    slots = tuple(
        RecipientSlot(
            issuer_der=_der_encoder.encode(ri["issuerAndSerialNumber"]["issuer"]),
            serial_number=int(ri["issuerAndSerialNumber"]["serialNumber"]),
            key_encryption_algorithm=str(ri["keyEncryptionAlgorithm"]["algorithm"]),
            encrypted_key=bytes(ri["encryptedKey"]),
        )
        for ri in infos
    )
    if not slots:
        raise EnvelopeFormatError("envelope has no recipients")
    tag, eci_len, h = _read_header(buf, off)
    if tag != 0x30:
        raise EnvelopeFormatError("EncryptedContentInfo is not a SEQUENCE")
    eci_end = off + h + eci_len
    off += h
    tag, n, h = _read_header(buf, off)
    content_type = _decode_oid(buf[off : off + h + n])
    off += h + n
    tag, n, h = _read_header(buf, off)
    if tag != 0x30 or off + h + n > len(buf):
        raise EnvelopeFormatError("contentEncryptionAlgorithm missing")
    try:
        alg, _ = _der_decoder.decode(buf[off : off + h + n], asn1Spec=rfc5280.AlgorithmIdentifier())
        algorithm = str(alg["algorithm"])
        iv_any = alg["parameters"]
        iv, _ = _der_decoder.decode(bytes(iv_any), asn1Spec=univ.OctetString()) if iv_any.isValue else (b"", b"")
    except PyAsn1Error as exc:
        raise EnvelopeFormatError(f"malformed contentEncryptionAlgorithm: {exc}") from None
    if algorithm != oids.SM4_CBC or len(iv) != BLOCK:
        raise EnvelopeFormatError(f"content encryption {algorithm} is not SM4-CBC with a 16-byte IV")
    off += h + n
    tag, n, h = _read_header(buf, off)
    if tag != 0x80:
        raise EnvelopeFormatError("encryptedContent [0] missing (detached content is not supported)")
    ct_off = off + h
    if ct_off + n > eci_end or eci_end > total or n == 0 or n % BLOCK:
        raise EnvelopeFormatError("encryptedContent length is inconsistent with the envelope")
    return EnvelopeHeader(slots, content_type, algorithm, bytes(iv), ct_off, n, total)


def _decode_oid(der: bytes) -> str:
    try:
        oid, rest = _der_decoder.decode(der, asn1Spec=univ.ObjectIdentifier())
        if rest:
            raise EnvelopeFormatError("trailing bytes after an OBJECT IDENTIFIER")
    except PyAsn1Error as exc:
        raise EnvelopeFormatError(f"malformed OBJECT IDENTIFIER: {exc}") from None
    return str(oid)


def _check_complete(header: EnvelopeHeader, size: int) -> None:
    if size < header.total_length:
        raise EnvelopeFormatError(f"envelope truncated: {size} of {header.total_length} bytes")
    if size > header.total_length:
        raise EnvelopeFormatError("trailing bytes after the envelope")


# ---------------------------------------------------------------------------------------- opening
def unwrap_content_key(header: EnvelopeHeader, key: sm2.PrivateKey, cert: Certificate) -> bytes:
    """Recover the SM4 content key with the recipient's SM2 key (GM/T 0010 §8.3, GB/T 32918.4)."""
    if not hmac.compare_digest(key.public_key(), cert.public_key):
        raise NotARecipient("the private key does not belong to the certificate")
    slot = header.slot_for(cert)
    if slot.key_encryption_algorithm != oids.SM2_ENCRYPT:
        raise EnvelopeFormatError(f"key encryption {slot.key_encryption_algorithm} is not SM2 (sm2-3)")
    content_key = sm2.decrypt(key, slot.encrypted_key, fmt="der")
    if len(content_key) != KEY_SIZE:
        raise DecryptionError("the wrapped content key is not a 16-byte SM4 key")
    return content_key


def unwrap_content_key_with_proof(
    header: EnvelopeHeader, key: sm2.PrivateKey, cert: Certificate
) -> tuple[bytes, bytes]:
    """:func:`unwrap_content_key`, plus the SM2 shared point x2 || y2 of the recipient's wrapped key (64
    bytes): with it, anyone holding only the envelope can check the key (:func:`key_matches_envelope`)."""
    if not hmac.compare_digest(key.public_key(), cert.public_key):
        raise NotARecipient("the private key does not belong to the certificate")
    slot = header.slot_for(cert)
    if slot.key_encryption_algorithm != oids.SM2_ENCRYPT:
        raise EnvelopeFormatError(f"key encryption {slot.key_encryption_algorithm} is not SM2 (sm2-3)")
    content_key, point = sm2.decrypt_with_point(key, slot.encrypted_key, fmt="der")
    if len(content_key) != KEY_SIZE:
        raise DecryptionError("the wrapped content key is not a 16-byte SM4 key")
    return content_key, point


def key_matches_envelope(header: EnvelopeHeader, content_key: bytes, point: bytes) -> bool:
    """Is ``content_key`` the key one of the envelope's SM2 recipient infos wraps, as shown by ``point``
    (x2 || y2 of that wrapped key)? GB/T 32918.4 §7.1 B4-B6 recomputed without the private key:
    a wrong key would need an SM3 preimage to pass."""
    for slot in header.recipients:
        if slot.key_encryption_algorithm != oids.SM2_ENCRYPT:
            continue
        try:
            if sm2.check_plaintext(slot.encrypted_key, content_key, point, fmt="der"):
                return True
        except sm2.Sm2DecryptionError:
            continue
    return False


def open_envelope(envelope: bytes, key: sm2.PrivateKey, cert: Certificate) -> bytes:
    """Open an in-memory envelope; the inverse of :func:`seal`."""
    header = parse_header(envelope)
    _check_complete(header, len(envelope))
    return decrypt_content(envelope, header, unwrap_content_key(header, key, cert))


def decrypt_content(envelope: bytes, header: EnvelopeHeader, content_key: bytes) -> bytes:
    ct = envelope[header.ciphertext_offset : header.ciphertext_offset + header.ciphertext_length]
    return sm4.cbc_decrypt(content_key, header.iv, ct)


def read_header_from_file(path: str | os.PathLike[str]) -> EnvelopeHeader:
    with open(path, "rb") as f:
        header = parse_header(f.read(_HEADER_READ))
        _check_complete(header, os.fstat(f.fileno()).st_size)
    return header


def open_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    key: sm2.PrivateKey | None = None,
    cert: Certificate | None = None,
    content_key: bytes | None = None,
) -> int:
    """Stream-open the envelope file ``src`` into ``dst``; ``dst`` appears only if decryption succeeds.

    Give either the recipient's ``key`` and ``cert``, or an already unwrapped ``content_key``.
    """
    header = read_header_from_file(src)
    if content_key is None:
        if key is None or cert is None:
            raise ValueError("give key and cert, or content_key")
        content_key = unwrap_content_key(header, key, cert)
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}.tmp")
    written = 0
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            fin.seek(header.ciphertext_offset)
            dec = sm4.cbc_decryptor(content_key, header.iv)
            remaining = header.ciphertext_length
            while remaining:
                chunk = fin.read(min(_CHUNK, remaining))
                if not chunk:
                    raise EnvelopeFormatError("envelope truncated while decrypting")
                remaining -= len(chunk)
                out = dec.update(chunk)
                written += len(out)
                fout.write(out)
            out = dec.finalize()
            written += len(out)
            fout.write(out)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


# ---------------------------------------------------------------------------------------- signatures
def _attribute(oid: str, value_der: bytes) -> asn.Attribute:
    attr = asn.Attribute()
    attr["type"] = univ.ObjectIdentifier(oid)
    attr["values"].append(univ.Any(value_der))
    return attr


@dataclass(frozen=True)
class SignatureInfo:
    """What a verified detached signature says (``key_check``: the signed key check value, if any)."""

    signer: Certificate
    digest: bytes
    signing_time: _dt.datetime | None
    key_check: bytes | None = None


KEY_CHECK_LABEL = b"bidkernel/content-key-check/v1\x00"
KEY_CHECK_SIZE = 32


def key_check_value(content_key: bytes) -> bytes:
    """KCV = SM3("bidkernel/content-key-check/v1" || 0x00 || content key): a commitment to an envelope's
    content key, signed with the envelope's SM3 (attribute ``BK_CONTENT_KEY_CHECK``). The label separates it
    from every other SM3 use; a 128-bit random key makes the value reveal nothing usable."""
    if len(content_key) != KEY_SIZE:
        raise ValueError("an SM4 content key is 16 bytes")
    return sm3(KEY_CHECK_LABEL + content_key)


def signed_key_check(signed_data: bytes) -> bytes | None:
    """The key check value among a SignedData's signed attributes, without verifying the signature (for
    a signature the caller verified before storing it); ``None`` if it has none or does not parse."""
    try:
        ci, _ = _der_decoder.decode(signed_data, asn1Spec=asn.ContentInfo())
        sd, _ = _der_decoder.decode(bytes(ci["content"]), asn1Spec=asn.SignedData())
        for a in sd["signerInfos"][0]["authenticatedAttributes"]:
            if str(a["type"]) == oids.BK_CONTENT_KEY_CHECK:
                return _key_check_of(bytes(a["values"][0]))
    except (PyAsn1Error, CryptoError, IndexError, KeyError):
        return None
    return None


def _key_check_of(value_der: bytes) -> bytes:
    v, rest = _der_decoder.decode(value_der, asn1Spec=univ.OctetString())
    if rest or len(v) != KEY_CHECK_SIZE:
        raise InvalidSignature("the key check value attribute is not a 32-byte OCTET STRING")
    return bytes(v)


def sign_digest(
    digest: bytes,
    key: sm2.PrivateKey,
    cert: Certificate,
    *,
    signing_time: _dt.datetime | None = None,
    include_certificate: bool = True,
    key_check: bytes | None = None,
) -> bytes:
    """A detached GM/T 0010 SignedData over ``digest`` (the SM3 of the content; GM/T 0010 §9).

    The SM2 signature (GB/T 32918.2, default ID) covers the DER SET OF signed attributes
    {contentType = data, messageDigest = digest[, signingTime][, key check value (``key_check``, 32 bytes,
    :func:`key_check_value`)]}.
    """
    if len(digest) != 32:
        raise ValueError("digest must be an SM3 digest (32 bytes)")
    if not hmac.compare_digest(key.public_key(), cert.public_key):
        raise ValueError("the private key does not belong to the certificate")
    attrs = asn.Attributes()
    attrs.append(_attribute(oids.PKCS9_CONTENT_TYPE, _der_encoder.encode(univ.ObjectIdentifier(oids.GMT0010_DATA))))
    attrs.append(_attribute(oids.PKCS9_MESSAGE_DIGEST, _der_encoder.encode(univ.OctetString(digest))))
    if signing_time is not None:
        t = signing_time.astimezone(_dt.UTC).strftime("%y%m%d%H%M%SZ")
        attrs.append(_attribute(oids.PKCS9_SIGNING_TIME, _der_encoder.encode(useful.UTCTime(t))))
    if key_check is not None:
        if len(key_check) != KEY_CHECK_SIZE:
            raise ValueError("a key check value is 32 bytes (SM3)")
        attrs.append(_attribute(oids.BK_CONTENT_KEY_CHECK, _der_encoder.encode(univ.OctetString(key_check))))
    signed_bytes = _der_encoder.encode(attrs)  # universal SET tag, as RFC 5652 §5.4 prescribes for signing

    si = asn.SignerInfo()
    si["version"] = VERSION
    si["issuerAndSerialNumber"] = _issuer_and_serial(cert)
    si["digestAlgorithm"] = _alg(oids.SM3)
    auth = si["authenticatedAttributes"]
    for a in attrs:
        auth.append(a)
    si["digestEncryptionAlgorithm"] = _alg(oids.SM2_SIGN)
    si["encryptedDigest"] = sm2.sign(key, signed_bytes, id=sm2.DEFAULT_ID, fmt="der")

    sd = asn.SignedData()
    sd["version"] = VERSION
    sd["digestAlgorithms"].append(_alg(oids.SM3))
    sd["contentInfo"]["contentType"] = univ.ObjectIdentifier(oids.GMT0010_DATA)
    if include_certificate:
        c, _ = _der_decoder.decode(cert.der, asn1Spec=rfc5280.Certificate())
        sd["certificates"].append(c)
    sd["signerInfos"].append(si)

    ci = asn.ContentInfo()
    ci["contentType"] = univ.ObjectIdentifier(oids.GMT0010_SIGNED_DATA)
    ci["content"] = univ.Any(_der_encoder.encode(sd)).subtype(
        explicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0)
    )
    return bytes(_der_encoder.encode(ci))


_SIGNATURE_ALGS = {oids.SM2_SIGN, oids.SM2_WITH_SM3}  # GM/T 0010 names sm2-1; GmSSL writes sm2sign-with-sm3


def verify_digest(signed_data: bytes, digest: bytes, *, signer: Certificate | None = None) -> SignatureInfo:
    """Verify a detached SignedData over ``digest``. Raises InvalidSignature on any mismatch.

    ``signer`` (when the caller already knows the certificate) takes precedence over certificates embedded
    in the SignedData; either way the certificate must match the SignerInfo's issuer and serial number.
    Trust in the certificate itself (chain, validity, revocation) is the caller's policy.
    """
    try:
        ci, rest = _der_decoder.decode(signed_data, asn1Spec=asn.ContentInfo())
        if rest:
            raise EnvelopeFormatError("trailing bytes after SignedData")
        if str(ci["contentType"]) != oids.GMT0010_SIGNED_DATA:
            raise EnvelopeFormatError("not a GM/T 0010 signedData")
        sd, rest = _der_decoder.decode(bytes(ci["content"]), asn1Spec=asn.SignedData())
        if rest:
            raise EnvelopeFormatError("trailing bytes inside SignedData")
    except PyAsn1Error as exc:
        raise EnvelopeFormatError(f"malformed SignedData: {exc}") from None
    # the fields outside the signed attributes are checked strictly, so one signature has one encoding
    if int(sd["version"]) != VERSION:
        raise EnvelopeFormatError("unsupported SignedData version")
    if [str(a["algorithm"]) for a in sd["digestAlgorithms"]] != [oids.SM3]:
        raise EnvelopeFormatError("digestAlgorithms must be exactly {sm3}")
    if str(sd["contentInfo"]["contentType"]) != oids.GMT0010_DATA or sd["contentInfo"]["content"].isValue:
        raise EnvelopeFormatError("a detached signature's contentInfo is data without content")
    if len(sd["signerInfos"]) != 1:
        raise EnvelopeFormatError("exactly one SignerInfo is supported")
    si = sd["signerInfos"][0]
    if int(si["version"]) != VERSION:
        raise EnvelopeFormatError("unsupported SignerInfo version")
    if str(si["digestAlgorithm"]["algorithm"]) != oids.SM3:
        raise InvalidSignature("digest algorithm is not SM3")
    if str(si["digestEncryptionAlgorithm"]["algorithm"]) not in _SIGNATURE_ALGS:
        raise InvalidSignature("signature algorithm is not SM2")
    candidates = [signer] if signer is not None else []
    if signer is None and sd["certificates"].isValue:
        candidates = [Certificate.from_der(_der_encoder.encode(c)) for c in sd["certificates"]]
    ias = si["issuerAndSerialNumber"]
    matching = [c for c in candidates if _same_issuer_serial(ias, c)]
    if not matching:
        raise InvalidSignature("no certificate for the signer (issuer and serial number do not match)")
    cert = matching[0]
    if not si["authenticatedAttributes"].isValue:
        raise InvalidSignature("signed attributes are required for a detached signature over a digest")
    attrs = asn.Attributes()
    found: dict[str, bytes] = {}
    for a in si["authenticatedAttributes"]:
        attrs.append(a)
        if len(a["values"]) != 1:
            raise InvalidSignature("an attribute must have exactly one value")
        oid = str(a["type"])
        if oid in found:
            raise InvalidSignature(f"duplicate attribute {oid}")
        found[oid] = bytes(a["values"][0])
    ct = found.get(oids.PKCS9_CONTENT_TYPE)
    md = found.get(oids.PKCS9_MESSAGE_DIGEST)
    if ct != _der_encoder.encode(univ.ObjectIdentifier(oids.GMT0010_DATA)) or md is None:
        raise InvalidSignature("signed attributes lack contentType=data or messageDigest")
    md_value, _ = _der_decoder.decode(md, asn1Spec=univ.OctetString())
    if not hmac.compare_digest(bytes(md_value), digest):
        raise InvalidSignature("the signed digest does not match the content")
    if not sm2.verify(cert.public_key, _der_encoder.encode(attrs), bytes(si["encryptedDigest"]), id=sm2.DEFAULT_ID):
        raise InvalidSignature("the SM2 signature does not verify")
    when = None
    if oids.PKCS9_SIGNING_TIME in found:
        t, _ = _der_decoder.decode(found[oids.PKCS9_SIGNING_TIME], asn1Spec=useful.UTCTime())
        when = t.asDateTime.astimezone(_dt.UTC)
    kcv = found.get(oids.BK_CONTENT_KEY_CHECK)
    return SignatureInfo(signer=cert, digest=digest, signing_time=when,
                         key_check=None if kcv is None else _key_check_of(kcv))  # fmt: skip


def digest_file(path: str | os.PathLike[str]) -> bytes:
    """SM3 of a file, streamed (what a detached signature covers)."""
    return sm3_file(path)


__all__ = [
    "EnvelopeFormatError",
    "EnvelopeHeader",
    "NotARecipient",
    "RecipientSlot",
    "SignatureInfo",
    "decrypt_content",
    "envelope_header",
    "key_check_value",
    "open_envelope",
    "open_file",
    "parse_header",
    "read_header_from_file",
    "seal",
    "seal_file",
    "sign_digest",
    "signed_key_check",
    "unwrap_content_key",
    "verify_digest",
]
