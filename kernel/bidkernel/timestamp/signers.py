"""Signing profiles of the TSA and the key/certificate plumbing they need.

Two profiles (issue 6):

* ``ecdsa-p256-sha256``: ECDSA over P-256 with SHA-256 (RFC 5758 §3.2 / RFC 5754), for tools without SM2;
* ``sm2-sm3``: SM2 signature with SM3 (GB/T 20520 profile of RFC 3161; OIDs sm3 1.2.156.10197.1.401 and
  sm2sign-with-sm3 1.2.156.10197.1.501 from GM/T 0006), with an explicit SM2 distinguishing ID
  (default "1234567812345678", GM/T 0009).

Signers never expose key material: their ``repr`` names the profile and a public-key fingerprint only.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bidkernel.timestamp import asn1
from bidkernel.timestamp.errors import ConfigError, VerificationError

DEFAULT_SM2_ID = b"1234567812345678"


def _sm2() -> Any:
    """``bidkernel.crypto.sm2`` (the crypto-core module), imported when an SM2 operation needs it."""
    return importlib.import_module("bidkernel.crypto.sm2")


@dataclass(frozen=True)
class Profile:
    """A TSA signing profile: the CMS digest algorithm and the signature algorithm (RFC 5652 §5.3)."""

    name: str
    digest: asn1.HashAlgorithm
    signature_oid: str


ECDSA_P256_SHA256 = Profile("ecdsa-p256-sha256", asn1.HASHES["sha256"], asn1.ECDSA_WITH_SHA256)
SM2_SM3 = Profile("sm2-sm3", asn1.HASHES["sm3"], asn1.SM2_WITH_SM3)
PROFILES = {p.name: p for p in (ECDSA_P256_SHA256, SM2_SM3)}


def profile_by_name(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown TSA profile {name!r}; known: {', '.join(PROFILES)}") from None


class Signer(Protocol):
    profile: Profile

    def sign(self, data: bytes) -> bytes:
        """Signature over ``data`` (hashing included), DER ``SEQUENCE { r, s }``."""
        ...

    def public_point(self) -> bytes:
        """Uncompressed public point (SEC 1 §2.3.3), to match the certificate."""
        ...


class EcdsaP256Signer:
    """ECDSA P-256 with SHA-256 through ``cryptography``."""

    profile = ECDSA_P256_SHA256

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError(f"the ecdsa-p256-sha256 profile needs a P-256 key, not {key.curve.name}")
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def public_point(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def __repr__(self) -> str:
        return f"<EcdsaP256Signer key={hashlib.sha256(self.public_point()).hexdigest()[:16]}>"


class Sm2Signer:
    """SM2 with SM3 and an explicit distinguishing ID, through ``bidkernel.crypto.sm2``."""

    profile = SM2_SM3

    def __init__(self, key: Any, *, sm2_id: bytes = DEFAULT_SM2_ID) -> None:
        self._sm2 = _sm2()
        self._key = key
        self._id = sm2_id

    def sign(self, data: bytes) -> bytes:
        return bytes(self._sm2.sign(self._key, data, id=self._id, fmt="der"))

    def public_point(self) -> bytes:
        return bytes(self._key.public_key())

    def __repr__(self) -> str:
        return f"<Sm2Signer key={hashlib.sha256(self.public_point()).hexdigest()[:16]}>"


def load_signer(
    profile: Profile, key_data: bytes, *, password: bytes | None = None, sm2_id: bytes = DEFAULT_SM2_ID
) -> Signer:
    """Load the TSA key (PKCS#8 PEM or DER as ``openssl genpkey`` writes it) for ``profile``."""
    if profile is SM2_SM3:
        try:
            sm2 = _sm2()
        except ImportError as exc:  # pragma: no cover - depends on the crypto-core branch being merged
            raise ConfigError("the sm2-sm3 profile needs bidkernel.crypto.sm2, which this build lacks") from exc
        if password is not None:
            raise ConfigError("encrypted SM2 keys are not supported; protect the key file instead")
        try:
            key = sm2.load_private_key(key_data)
        except Exception as exc:
            raise ConfigError("the TSA key is not an SM2 private key") from exc
        return Sm2Signer(key, sm2_id=sm2_id)
    try:
        if key_data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(key_data, password=password)
        else:
            key = serialization.load_der_private_key(key_data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError("the TSA key cannot be loaded (wrong format, wrong password or unsupported curve)") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError("the ecdsa-p256-sha256 profile needs an EC P-256 key")
    return EcdsaP256Signer(key)


# --- certificates -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PublicKeyInfo:
    """The parts of a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) the verifier needs."""

    algorithm: str
    curve: str | None
    point: bytes


def spki(cert: x509.Certificate) -> PublicKeyInfo:
    """Read the certificate's SPKI without asking ``cryptography`` to load the key (it has no SM2)."""
    return _spki(cert.tbs_certificate_bytes)


@functools.lru_cache(maxsize=256)
def _spki(tbs_der: bytes) -> PublicKeyInfo:
    from pyasn1.codec.der import decoder
    from pyasn1_modules import rfc5280

    tbs, _ = decoder.decode(tbs_der, asn1Spec=rfc5280.TBSCertificate())
    info = tbs["subjectPublicKeyInfo"]
    alg = asn1.oid_str(info["algorithm"]["algorithm"])
    curve: str | None = None
    params = info["algorithm"]["parameters"]
    if params.isValue and bytes(params)[:1] == b"\x06":
        from pyasn1.type import univ

        curve = asn1.oid_str(decoder.decode(bytes(params), asn1Spec=univ.ObjectIdentifier())[0])
    return PublicKeyInfo(alg, curve, info["subjectPublicKey"].asOctets())


def is_sm2_key(cert: x509.Certificate) -> bool:
    if cert.public_key_algorithm_oid.dotted_string != asn1.EC_PUBLIC_KEY:
        return False
    try:
        cert.public_key()  # cryptography loads every EC curve it knows, and SM2 is not one of them
        return False
    except (ValueError, UnsupportedAlgorithm):
        pass
    info = spki(cert)
    return info.algorithm == asn1.EC_PUBLIC_KEY and info.curve == asn1.SM2_CURVE


_ECDSA_BY_DIGEST = {
    asn1.SHA256: (asn1.ECDSA_WITH_SHA256, hashes.SHA256),
    asn1.SHA384: (asn1.ECDSA_WITH_SHA384, hashes.SHA384),
    asn1.SHA512: (asn1.ECDSA_WITH_SHA512, hashes.SHA512),
}


def verify_signature(
    cert: x509.Certificate, digest_oid: str, signature_oid: str, data: bytes, signature: bytes, *, sm2_id: bytes
) -> None:
    """Check a SignerInfo signature (RFC 5652 §5.6) with the key of ``cert``; raise on any mismatch."""
    if is_sm2_key(cert):
        if digest_oid != asn1.SM3 or signature_oid not in (asn1.SM2_WITH_SM3, asn1.SM2_1):
            raise VerificationError("SM2 key with a non-SM2/SM3 algorithm pair", code="timestamp.verify.bad_alg")
        try:
            sm2 = _sm2()
        except ImportError as exc:  # pragma: no cover - depends on the crypto-core branch being merged
            raise VerificationError(
                "SM2 verification is not available in this build", code="timestamp.verify.bad_alg"
            ) from exc
        if not sm2.verify(spki(cert).point, data, signature, id=sm2_id, fmt="der"):
            raise VerificationError("the TSA signature does not verify", code="timestamp.verify.bad_signature")
        return
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise VerificationError("the TSA certificate's key is not supported", code="timestamp.verify.bad_alg") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or digest_oid not in _ECDSA_BY_DIGEST:
        raise VerificationError("unsupported key or digest algorithm", code="timestamp.verify.bad_alg")
    sig_oid, hash_cls = _ECDSA_BY_DIGEST[digest_oid]
    if signature_oid not in (sig_oid, asn1.EC_PUBLIC_KEY):
        raise VerificationError("signature algorithm does not match the digest", code="timestamp.verify.bad_alg")
    try:
        key.verify(signature, data, ec.ECDSA(hash_cls()))
    except InvalidSignature:
        raise VerificationError("the TSA signature does not verify", code="timestamp.verify.bad_signature") from None


SM2_CERT_SIG = asn1.SM2_WITH_SM3


def verify_issued_by(
    child: x509.Certificate, parent: x509.Certificate, *, sm2_ids: tuple[bytes, ...] = (DEFAULT_SM2_ID,)
) -> bool:
    """True if ``parent`` issued ``child``: names chain and the certificate signature verifies
    (RFC 5280 §6.1.3 (a)(1), (a)(4)). SM2-with-SM3 certificate signatures are checked with the IDs in
    ``sm2_ids``, by default only "1234567812345678" (GM/T 0015); OpenSSL 3.0 signs certificates with an
    EMPTY ID unless given ``-sigopt distid:1234567812345678``, so a deployment trusting such
    certificates must list ``b""`` explicitly."""
    if child.issuer.public_bytes() != parent.subject.public_bytes():
        return False
    if child.signature_algorithm_oid.dotted_string == SM2_CERT_SIG:
        if not is_sm2_key(parent):
            return False
        try:
            sm2 = _sm2()
            point = spki(parent).point
            return any(
                bool(sm2.verify(point, child.tbs_certificate_bytes, child.signature, id=i, fmt="der")) for i in sm2_ids
            )
        except Exception:  # an invalid point or an unloadable module: not issued by this parent
            return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
