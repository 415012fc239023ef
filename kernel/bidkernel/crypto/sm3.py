"""SM3 hash (GB/T 32905-2016), native."""

from __future__ import annotations

from bidkernel import _native

DIGEST_SIZE = 32


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (GB/T 32905 §5)."""
    return bytes(_native.sm3_digest(data))
