"""SM2 public-key cryptography (GB/T 32918), native.

Bytes in, bytes out, every security choice explicit:

* Keys (GB/T 32918.1 clause 6): private keys are opaque :class:`PrivateKey` objects (the scalar
  stays in native memory, is zeroized when the object is freed, and is never shown by ``repr``).
  Public keys are SEC1 points as ``bytes``: 65 bytes ``04 || x || y`` out; compressed points,
  SPKI DER and SPKI PEM are accepted in. Keys load from and dump to PKCS#8, SEC1 and SPKI in PEM
  and DER, as ``openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2`` writes them.
* Signatures (GB/T 32918.2): the distinguishing ID is an explicit parameter, default
  :data:`DEFAULT_ID` (GM/T 0009-2012 clause 10). OpenSSL's ``pkeyutl`` uses an EMPTY ID unless
  told ``-pkeyopt distid:1234567812345678``: pass ``id=b""`` to interoperate with that default.
  Signatures are DER ``SEQUENCE { r, s }`` (``fmt="der"``) or raw ``r || s`` (``fmt="raw"``).
  Nonces k are drawn uniformly from the OS CSPRNG for every signature (clause 6.1 A3).
* Encryption (GB/T 32918.4): ciphertexts are GM/T 0009-2012 clause 7.2 ``SM2Cipher`` DER (C1, C3,
  C2) by default; raw ``04||C1||C3||C2`` (``fmt="c1c3c2"``) and ``04||C1||C2||C3``
  (``fmt="c1c2c3"``) only when asked for. Decryption checks C1 is on the curve, the KDF output is
  not all zero and C3 in constant time; every failure raises one :class:`Sm2DecryptionError`
  whose ``reason`` is only ``"malformed"`` or ``"integrity"``.
* Batch entry points (:func:`verify_many`, :func:`decrypt_many`) release the GIL once and spread
  the work over all cores; one bad item never fails the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from bidkernel import _native
from bidkernel.crypto.errors import DecryptionError, InvalidKey, InvalidSignature

__all__ = [
    "DEFAULT_ID",
    "CipherFormat",
    "PrivateKey",
    "SigFormat",
    "Sm2DecryptionError",
    "check_plaintext",
    "compute_z",
    "convert_ciphertext",
    "decrypt",
    "decrypt_many",
    "decrypt_with_point",
    "encrypt",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "public_key_to_spki",
    "sign",
    "sign_digest",
    "verify",
    "verify_digest",
    "verify_digest_or_raise",
    "verify_many",
    "verify_or_raise",
]

#: Default distinguishing ID of GM/T 0009-2012 clause 10 (ENTL = 0x0080).
DEFAULT_ID = b"1234567812345678"

SigFormat = Literal["der", "raw"]
CipherFormat = Literal["der", "c1c3c2", "c1c2c3"]

#: The opaque native private key type.
PrivateKey = _native.Sm2PrivateKey

Buffer = bytes | bytearray | memoryview


class Sm2DecryptionError(DecryptionError):
    """SM2 decryption failed. ``reason`` is ``"malformed"`` (the ciphertext cannot be parsed or C1
    is not a valid curve point) or ``"integrity"`` (C3 mismatch or all-zero KDF output: wrong key
    or tampered ciphertext). Coarse on purpose; it never carries key material."""

    def __init__(self, reason: str = "malformed") -> None:
        super().__init__(f"SM2 decryption failed ({reason})")
        self.reason = reason

    def __reduce__(self) -> tuple[type[Sm2DecryptionError], tuple[str]]:
        return (type(self), (self.reason,))


def _b(data: Buffer) -> bytes:
    return data if isinstance(data, bytes) else bytes(data)


# ------------------------------------------------------------------ keys


def generate_private_key() -> PrivateKey:
    """New key pair from the OS CSPRNG (GB/T 32918.1 clause 6.1): d uniform in [1, n-2]."""
    return _native.Sm2PrivateKey.generate()


def _looks_pem(data: bytes) -> bool:
    return b"-----BEGIN" in data[:4096]


def load_private_key(data: Buffer, password: bytes | None = None) -> PrivateKey:
    """Load a private key: PKCS#8 ``PrivateKeyInfo`` or SEC1 ``ECPrivateKey``, PEM or DER.

    The scalar must lie in [1, n-2] (GB/T 32918.1 clause 6.1). Encrypted PKCS#8 is not supported
    yet: decrypt it first (``openssl pkcs8 -in enc.pem -out key.pem``); passing ``password`` raises
    :class:`~bidkernel.crypto.errors.InvalidKey`.
    """
    raw = _b(data)
    if password is not None or b"ENCRYPTED PRIVATE KEY" in raw[:4096]:
        raise InvalidKey("encrypted PKCS#8 is not supported; decrypt it first (openssl pkcs8)")
    if _looks_pem(raw):
        return _native.Sm2PrivateKey.from_pem(raw)
    return _native.Sm2PrivateKey.from_der(raw)


def load_public_key(data: Buffer) -> bytes:
    """Load a public key (SPKI PEM, SPKI DER, or a SEC1 point, compressed or not) and return the
    65-byte uncompressed point ``04 || x || y``. The point is checked to be on the curve and not
    the point at infinity (GB/T 32918.1 clause 6.2)."""
    return _native.sm2_load_public_key(_b(data))


def public_key_to_spki(public_key: Buffer, pem: bool = True) -> bytes:
    """``SubjectPublicKeyInfo`` (id-ecPublicKey, curve sm2p256v1) of a SEC1 point, PEM or DER."""
    return _native.sm2_public_key_to_spki(_b(public_key), pem)


# ------------------------------------------------------------------ signatures


def compute_z(public_key: Buffer, id: bytes = DEFAULT_ID) -> bytes:
    """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 clause 5.5)."""
    return _native.sm2_compute_z(_b(public_key), _b(id))


def sign(key: PrivateKey, message: Buffer, *, id: bytes = DEFAULT_ID, fmt: SigFormat = "der") -> bytes:
    """Sign ``message`` (GB/T 32918.2 clause 6.1: e = SM3(Z_A || M), fresh CSPRNG nonce)."""
    return _native.sm2_sign(key, _b(message), _b(id), fmt)


def sign_digest(key: PrivateKey, e: Buffer, *, fmt: SigFormat = "der") -> bytes:
    """Sign a precomputed 32-byte e = SM3(Z_A || M) (GB/T 32918.2 clause 6.1 steps A3-A7)."""
    return _native.sm2_sign_digest(key, _b(e), fmt)


def verify(
    public_key: Buffer,
    message: Buffer,
    signature: Buffer,
    *,
    id: bytes = DEFAULT_ID,
    fmt: SigFormat = "der",
) -> bool:
    """Check a signature over ``message`` (GB/T 32918.2 clause 7.1). Returns ``False`` for a wrong
    or malformed signature (r or s out of [1, n-1], trailing, truncated or non-minimal DER);
    raises :class:`~bidkernel.crypto.errors.InvalidKey` for an invalid public key."""
    return _native.sm2_verify(_b(public_key), _b(message), _b(signature), _b(id), fmt)


def verify_or_raise(
    public_key: Buffer,
    message: Buffer,
    signature: Buffer,
    *,
    id: bytes = DEFAULT_ID,
    fmt: SigFormat = "der",
) -> None:
    """Like :func:`verify` but raises :class:`~bidkernel.crypto.errors.InvalidSignature`."""
    if not verify(public_key, message, signature, id=id, fmt=fmt):
        raise InvalidSignature("SM2 signature verification failed")


def verify_digest(public_key: Buffer, e: Buffer, signature: Buffer, *, fmt: SigFormat = "der") -> bool:
    """Check a signature over a precomputed e (GB/T 32918.2 clause 7.1 steps B3-B7)."""
    return _native.sm2_verify_digest(_b(public_key), _b(e), _b(signature), fmt)


def verify_digest_or_raise(public_key: Buffer, e: Buffer, signature: Buffer, *, fmt: SigFormat = "der") -> None:
    """Like :func:`verify_digest` but raises :class:`~bidkernel.crypto.errors.InvalidSignature`."""
    if not verify_digest(public_key, e, signature, fmt=fmt):
        raise InvalidSignature("SM2 signature verification failed")


def verify_many(
    items: Iterable[tuple[Buffer, Buffer, Buffer] | tuple[Buffer, Buffer, Buffer, Buffer]],
    *,
    id: bytes = DEFAULT_ID,
    fmt: SigFormat = "der",
    prehashed: bool = False,
) -> list[bool]:
    """Verify many signatures in one native call (GIL released once, all cores).

    Each item is ``(public_key, message, signature)`` or ``(public_key, message, signature, id)``;
    the 3-tuple form uses ``id``. With ``prehashed=True`` the second field is e = SM3(Z_A || M) and
    the ID is ignored. One result per item; an invalid key or signature is ``False``.
    """
    default_id = _b(id)
    prepared: list[tuple[bytes, bytes, bytes, bytes]] = []
    for item in items:
        if len(item) == 3:
            pub, data, sig = item
            ident: bytes = default_id
        elif len(item) == 4:
            pub, data, sig, ident_buf = item
            ident = _b(ident_buf)
        else:
            raise ValueError("verify_many items are (public_key, message, signature[, id])")
        prepared.append((_b(pub), _b(data), _b(sig), ident))
    return _native.sm2_verify_many(prepared, fmt, prehashed)


# ------------------------------------------------------------------ encryption


def encrypt(public_key: Buffer, plaintext: Buffer, *, fmt: CipherFormat = "der") -> bytes:
    """Encrypt to ``public_key`` (GB/T 32918.4 clause 6.1; fresh CSPRNG k). The plaintext must not
    be empty. Output: GM/T 0009 ``SM2Cipher`` DER unless ``fmt`` asks for a raw layout."""
    return _native.sm2_encrypt(_b(public_key), _b(plaintext), fmt)


def decrypt(key: PrivateKey, ciphertext: Buffer, *, fmt: CipherFormat = "der") -> bytes:
    """Decrypt (GB/T 32918.4 clause 7.1). Raises :class:`Sm2DecryptionError` on any failure."""
    return _native.sm2_decrypt(key, _b(ciphertext), fmt)


def decrypt_with_point(key: PrivateKey, ciphertext: Buffer, *, fmt: CipherFormat = "der") -> tuple[bytes, bytes]:
    """Decrypt (GB/T 32918.4 clause 7.1) and return ``(plaintext, x2 || y2)``, the shared point [d]C1 of
    step B3 (64 bytes): a proof, for this one ciphertext, that the plaintext is what it carries — see
    :func:`check_plaintext`. It discloses nothing beyond this ciphertext's plaintext."""
    return _native.sm2_decrypt_with_point(key, _b(ciphertext), fmt)


def check_plaintext(ciphertext: Buffer, plaintext: Buffer, point: Buffer, *, fmt: CipherFormat = "der") -> bool:
    """Without the key: does ``point`` (x2 || y2) open ``ciphertext`` to ``plaintext``? Checks C2 = M XOR
    KDF(x2 || y2) and C3 = SM3(x2 || M || y2) in constant time (GB/T 32918.4 clause 7.1 B4-B6). Raises
    :class:`Sm2DecryptionError` for a malformed ciphertext or a point that is not 64 bytes."""
    return _native.sm2_check_plaintext(_b(ciphertext), fmt, _b(plaintext), _b(point))


def decrypt_many(
    key: PrivateKey, ciphertexts: Sequence[Buffer], *, fmt: CipherFormat = "der"
) -> list[bytes | Sm2DecryptionError]:
    """Decrypt many ciphertexts with one key in one native call (e.g. unwrap SM4 content keys at
    the opening). One result per item: the plaintext, or an :class:`Sm2DecryptionError` instance
    (not raised) carrying the coarse reason."""
    out = _native.sm2_decrypt_many(key, [_b(c) for c in ciphertexts], fmt)
    return [r if isinstance(r, bytes) else Sm2DecryptionError(r) for r in out]


def convert_ciphertext(ciphertext: Buffer, from_fmt: CipherFormat, to_fmt: CipherFormat) -> bytes:
    """Re-encode a ciphertext between DER, raw C1C3C2 and raw C1C2C3 without decrypting it
    (C1 is checked to be on the curve). Raises :class:`Sm2DecryptionError` when malformed."""
    return _native.sm2_convert_ciphertext(_b(ciphertext), from_fmt, to_fmt)
