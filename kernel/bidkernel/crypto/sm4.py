"""SM4 block cipher (GB/T 32907-2016) and its modes, native.

Bytes in, bytes out; every security choice (mode, IV, padding, tag) is an explicit parameter.

* Block: :func:`encrypt_block` / :func:`decrypt_block` (GB/T 32907 §7).
* CBC with PKCS#7 padding (GB/T 17964 / SP 800-38A §6.2, RFC 5652 §6.3). A bad length or bad
  padding raise the same :class:`~bidkernel.crypto.errors.InvalidPadding` with the same message:
  no padding oracle. The padding check runs in constant time.
* CTR (SP 800-38A §6.5): the 16-byte IV is the initial counter block, incremented as one 128-bit
  big-endian integer (wrapping at 2^128).
* GCM (SP 800-38D) with 16-byte tags and any IV length of at least one byte (12 bytes recommended;
  other lengths derive J0 with GHASH, §7.1 step 2).
* CCM (SP 800-38C): nonce 7..13 bytes, tag 4..16 bytes (even).

Tags are compared in constant time (``subtle`` for GCM, RustCrypto ``ccm`` for CCM). Errors: a key
that is not 16 bytes raises :class:`~bidkernel.crypto.errors.InvalidKey`; a failed tag raises
:class:`~bidkernel.crypto.errors.InvalidTag`; an IV or tag of a length the mode does not allow raises
:class:`ValueError`. Keys never appear in messages or reprs.

The block function is table-driven (like OpenSSL's and RustCrypto's portable SM4) and not
constant-time against cache-timing attackers sharing the machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bidkernel import _native

KEY_SIZE = 16
"""Key length in bytes (GB/T 32907 §5)."""
BLOCK_SIZE = 16
"""Block length in bytes (GB/T 32907 §5)."""
GCM_TAG_SIZE = 16
"""GCM tag length in bytes (only full tags are produced and accepted)."""
GCM_IV_SIZE = 12
"""Recommended GCM IV length (SP 800-38D §8.2)."""

Mode = Literal["cbc", "ctr", "gcm"]
"""Modes of the file and batch functions: CBC with PKCS#7, CTR, GCM with the tag appended."""
StrPath = str | os.PathLike[str]


def encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypts one 16-byte block (GB/T 32907 §7.1)."""
    return bytes(_native.sm4_encrypt_block(key, block))


def decrypt_block(key: bytes, block: bytes) -> bytes:
    """Decrypts one 16-byte block (GB/T 32907 §7.2)."""
    return bytes(_native.sm4_decrypt_block(key, block))


def cbc_encrypt(key: bytes, iv: bytes, data: bytes, *, padding: bool = True) -> bytes:
    """CBC encryption (SP 800-38A §6.2) with a 16-byte ``iv``.

    With ``padding`` (PKCS#7) any length is accepted; without it ``data`` must be whole blocks.
    """
    return _native.sm4_cbc_encrypt(key, iv, data, padding)


def cbc_decrypt(key: bytes, iv: bytes, data: bytes, *, padding: bool = True) -> bytes:
    """CBC decryption. With ``padding``, a bad length or padding raises ``InvalidPadding`` (one
    generic error, checked in constant time)."""
    return _native.sm4_cbc_decrypt(key, iv, data, padding)


def ctr_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CTR mode (SP 800-38A §6.5); ``iv`` is the 16-byte initial counter block (128-bit big-endian)."""
    return _native.sm4_ctr(key, iv, data)


ctr_decrypt = ctr_encrypt
"""CTR decryption is the same operation as encryption."""


def gcm_encrypt(key: bytes, iv: bytes, data: bytes, *, aad: bytes = b"") -> tuple[bytes, bytes]:
    """GCM authenticated encryption (SP 800-38D §7.1): returns ``(ciphertext, 16-byte tag)``."""
    ct, tag = _native.sm4_gcm_encrypt(key, iv, aad, data)
    return ct, bytes(tag)


def gcm_decrypt(key: bytes, iv: bytes, data: bytes, tag: bytes, *, aad: bytes = b"") -> bytes:
    """GCM authenticated decryption (SP 800-38D §7.2). Raises ``InvalidTag`` when the 16-byte tag
    does not match (compared in constant time); no plaintext is returned then."""
    return _native.sm4_gcm_decrypt(key, iv, aad, data, tag)


def ccm_encrypt(key: bytes, nonce: bytes, data: bytes, *, tag_size: int = 16, aad: bytes = b"") -> tuple[bytes, bytes]:
    """CCM authenticated encryption (SP 800-38C §6.1): returns ``(ciphertext, tag)``.

    ``nonce`` is 7..13 bytes; ``tag_size`` is 4, 6, 8, 10, 12, 14 or 16.
    """
    return _native.sm4_ccm_encrypt(key, nonce, aad, data, tag_size)


def ccm_decrypt(key: bytes, nonce: bytes, data: bytes, tag: bytes, *, aad: bytes = b"") -> bytes:
    """CCM authenticated decryption (SP 800-38C §6.2); the tag size is ``len(tag)``. Raises
    ``InvalidTag`` on mismatch."""
    return _native.sm4_ccm_decrypt(key, nonce, aad, data, tag)


def encrypt_file(mode: Mode, key: bytes, iv: bytes, src: StrPath, dst: StrPath, *, aad: bytes = b"") -> int:
    """Encrypts file ``src`` into ``dst``, streamed in 1 MiB pieces with the GIL released.

    CBC pads with PKCS#7; GCM appends its 16-byte tag to the ciphertext (``aad`` is used by GCM
    only). ``dst`` is written under a temporary name and renamed into place only on success.
    Returns the number of bytes written.
    """
    return _native.sm4_encrypt_file(mode, key, iv, aad, src, dst)


def decrypt_file(
    mode: Mode,
    key: bytes,
    iv: bytes,
    src: StrPath,
    dst: StrPath,
    *,
    aad: bytes = b"",
    tag: bytes | None = None,
) -> int:
    """Decrypts file ``src`` into ``dst``, streamed in 1 MiB pieces with the GIL released.

    For GCM the tag is the last 16 bytes of ``src`` unless given as ``tag``. ``dst`` appears only
    after the padding or tag has been verified: on any error no output file is left behind.
    Returns the number of plaintext bytes written.
    """
    return _native.sm4_decrypt_file(mode, key, iv, aad, tag, src, dst)


@dataclass(frozen=True, slots=True)
class DecryptItem:
    """One item of :func:`decrypt_batch`: exactly one of ``data`` or ``path`` holds the ciphertext.

    ``out`` (optional) makes the item stream its plaintext into that file instead of returning it.
    For GCM, ``tag`` = ``None`` takes the tag from the last 16 bytes of the ciphertext. The key is
    left out of the repr.
    """

    key: bytes = field(repr=False)
    mode: Mode
    iv: bytes
    data: bytes | None = None
    path: StrPath | None = None
    out: StrPath | None = None
    tag: bytes | None = None
    aad: bytes = b""


def decrypt_batch(items: Sequence[DecryptItem]) -> list[bytes | int | Exception]:
    """Decrypts many buffers or files in one native call: the GIL is released once and items run
    in parallel on all cores (rayon).

    One result per item, in order: the plaintext (``bytes``), the number of bytes written when the
    item has ``out``, or the exception for that item (``InvalidKey``, ``InvalidTag``,
    ``InvalidPadding``, ``ValueError``, ``OSError``...). A bad item never fails the batch.
    """
    raw = [(i.key, i.mode, i.iv, i.aad, i.tag, i.data, i.path, i.out) for i in items]
    return _native.sm4_decrypt_batch(raw)
