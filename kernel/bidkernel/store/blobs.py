"""Content-addressed blob files: ``blobs/<sm3 hex[:2]>/<sm3 hex>`` under the data directory.

An upload streams into ``blobs/tmp/`` while SM3 is computed natively (:class:`~bidkernel.crypto.sm3.Sm3Hash`,
GB/T 32905), with the size limit enforced as bytes arrive. The intake path makes it durable in the
fewest fsyncs (docs/performance.md "## Intake"):

1. :meth:`BlobStore.make_durable` fsyncs each file and renames it, still in ``tmp/``, to
   ``<sm3>.<random>.ready``; then ONE fsync of ``tmp/`` makes every such name durable — shared by all
   uploads staged meanwhile (a group fsync: concurrent bids wait for one directory fsync between them);
2. the caller commits its bid row (which references the SM3);
3. :meth:`BlobStore.place` renames the staged file to ``blobs/<sm3[:2]>/<sm3>``; those directories
   are fsynced lazily in batches (every ``flush_interval_s``, and on close). If the machine stops
   before that, the staged name is still durable and :meth:`BlobStore.sweep` moves it into place at
   start-up (rename is atomic on the journaling file systems this targets: the file has one of its names).

Nothing is left behind on failure: :meth:`BlobUpload.abort` removes the staged file, and
:meth:`BlobStore.sweep` at start-up (before any request is served) removes temporary files and
orphans that no committed bid references. Blobs are immutable once placed.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterable, Sequence
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

    def stage(self) -> None:
        """fsync the file and rename it (within ``tmp/``) to its staged name ``<sm3>.<random>.ready``."""
        if not self._f.closed:
            self.finish()
        staged = self._store.tmp_dir / f"{self.digest().hex()}.{self.tmp.name.split('.')[0]}.ready"
        os.replace(self.tmp, staged)
        self.tmp = staged

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

    def __init__(self, root: str | Path, *, flush_interval_s: float = 0.5) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._tmp_sync = GroupFsync(self.tmp_dir)
        self._dirty: set[Path] = set()
        self._dirty_lock = threading.Lock()
        self._flush_interval = flush_interval_s
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # --- the intake path: stage (durable), commit elsewhere, place ------------------------------
    def make_durable(self, uploads: Sequence[BlobUpload]) -> None:
        """Each file fsynced and staged under its digest; then one (shared) fsync of ``tmp/``."""
        for up in uploads:
            up.stage()
        if uploads:
            self._tmp_sync.sync()

    def place(self, uploads: Sequence[BlobUpload]) -> None:
        """Move staged files to their content address (after the commit that references them)."""
        dirs = set()
        for up in uploads:
            hexd = up.digest().hex()
            d = self.root / hexd[:2]
            if not d.exists():
                d.mkdir(exist_ok=True)
                dirs.add(self.root)
            dst = d / hexd
            if dst.exists():  # same content already placed (immutable): drop the staged copy
                up.tmp.unlink(missing_ok=True)
            else:
                os.replace(up.tmp, dst)
            dirs.add(d)
        with self._dirty_lock:
            self._dirty |= dirs
        if self._flusher is None:
            self._start_flusher()

    def _start_flusher(self) -> None:
        with self._dirty_lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(target=self._flush_loop, name="blob-dir-flush", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_interval):
            self.flush()

    def flush(self) -> None:
        """fsync every directory that received a placed blob since the last flush."""
        with self._dirty_lock:
            dirs, self._dirty = self._dirty, set()
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):  # children before the root
            _fsync_dir(d)

    def close(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5)
        self.flush()

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
        """Start-up clean-up: move staged blobs that committed bids reference into place (the machine
        stopped between commit and placement); remove other temporary files and blobs no committed
        bid references. Only safe while no upload is in flight. Returns (temporary files, orphans) removed."""
        tmp = 0
        moved: set[Path] = set()
        for f in self.tmp_dir.iterdir():
            name = f.name.split(".")[0]
            if f.name.endswith(".ready") and name in referenced and not self.exists(name):
                d = self.root / name[:2]
                d.mkdir(exist_ok=True)
                os.replace(f, d / name)
                moved |= {d, self.root}
                continue
            f.unlink(missing_ok=True)
            tmp += 1
        for d in moved:
            _fsync_dir(d)
        orphans = 0
        for name in list(self.iter_names()):
            if name not in referenced:
                self.remove(name)
                orphans += 1
        return tmp, orphans


class GroupFsync:
    """fsync of one directory shared by concurrent callers: :meth:`sync` returns once an fsync that
    started after the call has completed, and one fsync serves every caller waiting when it starts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._requested = 0
        self._done = 0
        self._running = False
        self.fsyncs = 0

    def sync(self) -> None:
        with self._cond:
            self._requested += 1
            ticket = self._requested
            while self._done < ticket:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                target = self._requested
                self._cond.release()
                try:
                    _fsync_dir(self.path)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
                self.fsyncs += 1
                self._done = max(self._done, target)
