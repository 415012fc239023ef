"""Content-addressed blob files: ``blobs/<sm3 hex[:2]>/<sm3 hex>`` under the data directory.

An upload streams into ``blobs/tmp/`` while SM3 is computed natively (:class:`~bidkernel.crypto.sm3.Sm3Hash`,
GB/T 32905), with the size limit enforced as bytes arrive. :meth:`BlobUpload.commit` fsyncs the file,
renames it to its digest name and fsyncs the directory (so the rename survives a power cut, POSIX
``rename(2)`` + ``fsync(2)`` on the parent); :meth:`BlobUpload.abort` removes the temporary file.
Nothing is left behind on failure: a temporary file is removed by abort, and an orphan blob (renamed
but never referenced by a committed bid, e.g. after a crash) is removed by :meth:`BlobStore.sweep`
at start-up, before any request is served. Blobs are immutable once renamed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from bidkernel.crypto.sm3 import Sm3Hash
from bidkernel.store import fsyncs


class BlobTooLarge(Exception):
    """More bytes arrived than the limit allows."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
        fsyncs.count("blob_dir")
    finally:
        os.close(fd)


class BlobUpload:
    """One streamed upload into a temporary file (not thread-safe; one writer)."""

    def __init__(self, store: BlobStore, limit: int) -> None:
        self._store = store
        self.limit = limit
        self.size = 0
        self._hash = Sm3Hash()
        self.tmp = store.tmp_dir / f"{secrets.token_hex(12)}.part"
        self._f = open(self.tmp, "xb")
        self._digest: bytes | None = None
        self.head = bytearray()

    def write(self, data: bytes, *, keep_head: int = 0) -> None:
        """Append ``data`` (hashing it); raises :class:`BlobTooLarge` past the limit."""
        if self.size + len(data) > self.limit:
            raise BlobTooLarge(f"more than {self.limit} bytes")
        if keep_head and len(self.head) < keep_head:
            self.head += data[: keep_head - len(self.head)]
        self._hash.update(data)
        self._f.write(data)
        self.size += len(data)

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = self._hash.digest()
        return self._digest

    def finish(self) -> None:
        """Flush and fsync the temporary file (blocking: call from a worker thread)."""
        self._f.flush()
        os.fsync(self._f.fileno())
        fsyncs.count("blob_file")
        self._f.close()

    def commit(self) -> tuple[Path, bool]:
        """Rename the fsynced file to its content address; returns (path, newly created)."""
        if not self._f.closed:
            self.finish()
        hexd = self.digest().hex()
        d = self._store.root / hexd[:2]
        created_dir = not d.exists()
        d.mkdir(exist_ok=True)
        dst = d / hexd
        if dst.exists():  # same content already stored (immutable): keep the old file
            self.tmp.unlink(missing_ok=True)
            return dst, False
        os.replace(self.tmp, dst)
        _fsync_dir(d)
        if created_dir:
            _fsync_dir(self._store.root)
        return dst, True

    def abort(self) -> None:
        try:
            self._f.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class BlobStore:
    """The blob directory. ``root`` is created if absent."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def upload(self, limit: int) -> BlobUpload:
        return BlobUpload(self, limit)

    def path(self, sm3_hex: str) -> Path:
        if len(sm3_hex) != 64 or any(c not in "0123456789abcdef" for c in sm3_hex):
            raise ValueError("a blob name is 64 lowercase hex digits")
        return self.root / sm3_hex[:2] / sm3_hex

    def exists(self, sm3_hex: str) -> bool:
        return self.path(sm3_hex).is_file()

    def remove(self, sm3_hex: str) -> None:
        self.path(sm3_hex).unlink(missing_ok=True)

    def iter_names(self) -> Iterable[str]:
        for d in self.root.iterdir():
            if d.is_dir() and len(d.name) == 2 and d.name != "tmp":
                for f in d.iterdir():
                    if len(f.name) == 64:
                        yield f.name

    def sweep(self, referenced: set[str]) -> tuple[int, int]:
        """Start-up clean-up: remove temporary files and blobs no committed bid references.
        Only safe while no upload is in flight. Returns (temporary files, orphans) removed."""
        tmp = 0
        for f in self.tmp_dir.iterdir():
            f.unlink(missing_ok=True)
            tmp += 1
        orphans = 0
        for name in list(self.iter_names()):
            if name not in referenced:
                self.remove(name)
                orphans += 1
        return tmp, orphans
