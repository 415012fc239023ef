"""Is this the content key of that envelope? (bidder custody, and every path that unwraps a content key)

Two sound checks, and a weak fallback (docs/protocol.md "Opening"):

* **key check value** — a package sealed by ``bid seal`` since the KCV exists commits to each content key
  in the envelope's signature, before the deadline: the signed attribute ``BK_CONTENT_KEY_CHECK`` holds
  KCV = SM3("bidkernel/content-key-check/v1" || 0x00 || key) (docs/protocol.md "Detached signatures");
  a key passes iff SM3 of it under that label equals the signed value (constant-time comparison);
* **SM2 point proof** — the bidder sends, with the key, the shared point x2 || y2 of its wrapped key (GB/T
  32918.4 §7.1 B3); the kernel recomputes C2 and C3 of that RecipientInfo without any private key;
* **padding** — neither: the last CBC block must decrypt to valid PKCS#7 padding, which a wrong key passes
  with probability about 1/256.

Every sound check that can be made must hold; the record names the one a key passed (the proof when it was
sent, else the KCV, else padding).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from pathlib import Path
from typing import Any

from bidkernel.crypto import sm4
from bidkernel.crypto.envelope import key_check_value, key_matches_envelope, read_header_from_file, signed_key_check
from bidkernel.crypto.errors import CryptoError

KCV = "key-check-value"  # the signed KCV matched
SM2_POINT = "sm2-point"  # the bidder's SM2 point proof opens the wrapped key to this key
PADDING = "padding"  # neither: the last block's padding was valid (1/256 false pass)


def signed_kcv(entry: dict[str, Any]) -> bytes | None:
    """The KCV the bidder signed for a manifest entry (the signature was verified at intake), or None."""
    sig = entry.get("signature")
    if not isinstance(sig, str):
        return None
    try:
        return signed_key_check(base64.b64decode(sig, validate=True))
    except (ValueError, binascii.Error):
        return None


def kcv_matches(want: bytes, key: bytes) -> bool:
    """Constant-time comparison of SM3(label || key) with the signed KCV."""
    return len(key) == sm4.KEY_SIZE and hmac.compare_digest(key_check_value(key), want)


def check_key(path: Path, entry: dict[str, Any], key: bytes, point: bytes | None = None) -> tuple[bool, str]:
    """``(True, check passed)`` or ``(False, check failed)`` for ``key`` as the content key of the envelope
    ``entry`` stored at ``path``, with the bidder's SM2 point proof ``point`` if it sent one."""
    if point is not None and not proof_holds(path, key, point):
        return False, SM2_POINT
    want = signed_kcv(entry)
    if want is not None and not kcv_matches(want, key):
        return False, KCV
    if point is not None:
        return True, SM2_POINT
    if want is not None:
        return True, KCV
    return padding_fits(path, key), PADDING


def proof_holds(path: Path, key: bytes, point: bytes) -> bool:
    """Is ``key`` the content key one of the envelope's SM2 recipient infos wraps, as ``point`` shows?"""
    try:
        return key_matches_envelope(read_header_from_file(path), key, point)
    except (CryptoError, OSError, ValueError):
        return False


def padding_fits(path: Path, key: bytes) -> bool:
    """Does ``key`` decrypt the envelope's last block to valid PKCS#7 padding? (CBC: the last block
    decrypts with the one before it as IV.) A wrong key passes with probability about 2^-8."""
    try:
        h = read_header_from_file(path)
        with open(path, "rb") as f:
            start = h.ciphertext_offset + h.ciphertext_length - 32
            if h.ciphertext_length >= 32:
                f.seek(start)
                prev, last = f.read(16), f.read(16)
            else:
                f.seek(h.ciphertext_offset)
                prev, last = h.iv, f.read(16)
        sm4.cbc_decrypt(key, prev, last)
        return True
    except (CryptoError, OSError, ValueError):
        return False
