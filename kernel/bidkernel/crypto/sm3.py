"""SM3 hash (GB/T 32905-2016) and HMAC-SM3, native.

Bytes in, bytes out. Large inputs, files and batches are processed with the GIL released; batches
run on all cores (rayon) and give one result per item.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from bidkernel import _native

DIGEST_SIZE = 32
"""Output length in bytes (GB/T 32905 §4)."""
BLOCK_SIZE = 64
"""Compression block length in bytes (GB/T 32905 §5.2)."""
HMAC_MIN_TAG_SIZE = 16
"""Shortest accepted (left-truncated) HMAC-SM3 tag: half the output (RFC 2104 §5)."""

StrPath = str | os.PathLike[str]


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (GB/T 32905 §5)."""
    return bytes(_native.sm3_digest(data))


class Sm3Hash:
    """Incremental SM3 (padding §5.2, iterated compression §5.3), in the manner of :mod:`hashlib`."""

    name = "sm3"
    digest_size = DIGEST_SIZE
    block_size = BLOCK_SIZE

    __slots__ = ("_h",)

    def __init__(self, data: bytes = b"") -> None:
        self._h = _native.Sm3Hasher()
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        """Absorbs ``data`` (the GIL is released for large inputs)."""
        self._h.update(data)

    def digest(self) -> bytes:
        """The digest of everything absorbed so far; the object stays usable."""
        return bytes(self._h.digest())

    def hexdigest(self) -> str:
        """:meth:`digest` as lowercase hex."""
        return self.digest().hex()

    def copy(self) -> Sm3Hash:
        """An independent copy of the current state."""
        c = Sm3Hash.__new__(Sm3Hash)
        c._h = self._h.copy()
        return c


def sm3_file(path: StrPath) -> bytes:
    """SM3 of the file at ``path``, streamed in 1 MiB reads (never loaded whole), GIL released.

    Raises :class:`OSError` if the file cannot be read.
    """
    return bytes(_native.sm3_file(path))


def sm3_many(buffers: Iterable[bytes]) -> list[bytes]:
    """SM3 of many buffers in one native call (GIL released once, all cores); digests in order."""
    return _native.sm3_digest_many(list(buffers))


def sm3_files(paths: Sequence[StrPath]) -> list[bytes | OSError]:
    """SM3 of many files in one native call (GIL released once, all cores).

    One result per path, in order: the digest, or the :class:`OSError` for a file that could not be
    read (a missing file never fails the batch).
    """
    return _native.sm3_files(list(paths))


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 of ``data`` under ``key`` (RFC 2104 / GB/T 15852.2 with SM3 as the hash)."""
    return bytes(_native.hmac_sm3(key, data))


def hmac_sm3_verify(key: bytes, data: bytes, tag: bytes) -> bool:
    """True when ``tag`` is the HMAC-SM3 of ``data``, compared in constant time.

    ``tag`` may be left-truncated (RFC 2104 §5) to no fewer than :data:`HMAC_MIN_TAG_SIZE` bytes;
    shorter tags are rejected.
    """
    return _native.hmac_sm3_verify(key, data, tag)
