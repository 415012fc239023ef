"""The TSA serial counter's SQLite file (moved here from ``bidkernel.timestamp.serials`` so that all SQL
lives under ``bidkernel.store``; ``bidkernel.timestamp.serials`` re-exports it unchanged).

Unique, persistent TSA serial numbers (RFC 3161 §2.4.2). The counter lives in a small SQLite file (WAL,
``synchronous=FULL``). Serials are leased in blocks: one durable transaction reserves ``block`` numbers, which
are then handed out from memory, so a token costs no fsync. A crash loses at most the rest of a block (gaps are
allowed; reuse is not), and several processes sharing the file lease disjoint blocks under ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bidkernel.timestamp.errors import ConfigError, TimestampError


class SqliteSerialCounter:
    def __init__(self, path: str | Path, *, block: int = 256) -> None:
        if not 1 <= block <= 1_000_000:
            raise ConfigError("serial block must be between 1 and 1,000,000")
        self.path = Path(path)
        self._block = block
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS tsa_serial (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL)"
            )
            self._db.execute("INSERT OR IGNORE INTO tsa_serial (id, next) VALUES (1, 1)")
            self._db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"cannot open the TSA serial store at {self.path}") from exc

    def _lease(self) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                (start,) = db.execute("SELECT next FROM tsa_serial WHERE id = 1").fetchone()
                end = start + self._block
                if end >= 2**63:
                    raise TimestampError("TSA serial numbers exhausted", code="timestamp.serial_exhausted")
                db.execute("UPDATE tsa_serial SET next = ? WHERE id = 1", (end,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise TimestampError("cannot reserve TSA serial numbers", code="timestamp.serial_store") from exc
        self._next, self._end = start, end

    def next_serial(self) -> int:
        with self._lock:
            if self._next >= self._end:
                self._lease()
            value = self._next
            self._next += 1
            return value

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._next = self._end = 0

    def __repr__(self) -> str:
        return f"<SqliteSerialCounter {self.path} block={self._block}>"
