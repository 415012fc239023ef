"""SQLite backend: one database file in WAL mode with ``synchronous=FULL``.

A commit is durable when :meth:`SQLiteStore.transaction` returns (the WAL is fsynced at commit).
One writer connection, serialized by a lock in this process and by ``BEGIN IMMEDIATE`` across
processes; readers use one connection per thread and see committed snapshots (WAL readers never
block the writer). Ledger tables refuse UPDATE and DELETE by trigger: the log is append-only
even against a bug elsewhere in the kernel.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from bidkernel.store import fsyncs
from bidkernel.store.base import (
    BidRow,
    DeliveryRow,
    DuplicateError,
    NodeId,
    OutboxRow,
    Reader,
    RoleEntry,
    Store,
    StoredCheckpoint,
    StoreError,
    TenderRow,
    Transaction,
)

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_leaves (
    idx  INTEGER PRIMARY KEY,
    leaf BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    seq     INTEGER PRIMARY KEY,
    size    INTEGER NOT NULL,
    root    BLOB NOT NULL,
    time_ms INTEGER NOT NULL,
    note    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tenders (
    id          TEXT PRIMARY KEY,
    agency_org  TEXT NOT NULL,
    state       TEXT NOT NULL,
    deadline_ms INTEGER NOT NULL,
    sealed      INTEGER NOT NULL DEFAULT 0,
    doc         BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS bids (
    id            TEXT PRIMARY KEY,
    tender_id     TEXT NOT NULL REFERENCES tenders(id),
    bidder_fp     TEXT NOT NULL,
    bidder_org    TEXT NOT NULL,
    status        TEXT NOT NULL,
    received_ms   INTEGER NOT NULL,
    log_index     INTEGER NOT NULL,
    amendment_seq INTEGER NOT NULL,
    replaces      TEXT,
    nonce         TEXT NOT NULL UNIQUE,
    manifest      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS bids_by_tender ON bids(tender_id, bidder_fp);
CREATE TABLE IF NOT EXISTS bid_blobs (
    sm3    TEXT NOT NULL,
    bid_id TEXT NOT NULL REFERENCES bids(id),
    PRIMARY KEY (sm3, bid_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS request_nonces (
    nonce   TEXT PRIMARY KEY,
    time_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS certificates (
    fp  TEXT PRIMARY KEY,
    der BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revocations (
    fp      TEXT PRIMARY KEY,
    reason  TEXT NOT NULL,
    time_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS closings (
    tender_id TEXT PRIMARY KEY,
    doc       BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL UNIQUE,
    payload      BLOB NOT NULL,
    created_ms   INTEGER NOT NULL,
    delivered_ms INTEGER
);
CREATE TABLE IF NOT EXISTS openings (
    tender_id TEXT PRIMARY KEY,
    state     TEXT NOT NULL,
    doc       BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS opening_entries (
    tender_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    doc       BLOB NOT NULL,
    PRIMARY KEY (tender_id, kind, key)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS ledger_leaves_append_only_u BEFORE UPDATE ON ledger_leaves
    BEGIN SELECT RAISE(ABORT, 'ledger_leaves is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_leaves_append_only_d BEFORE DELETE ON ledger_leaves
    BEGIN SELECT RAISE(ABORT, 'ledger_leaves is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_nodes_append_only_u BEFORE UPDATE ON ledger_nodes
    BEGIN SELECT RAISE(ABORT, 'ledger_nodes is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_nodes_append_only_d BEFORE DELETE ON ledger_nodes
    BEGIN SELECT RAISE(ABORT, 'ledger_nodes is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_checkpoints_append_only_u BEFORE UPDATE ON ledger_checkpoints
    BEGIN SELECT RAISE(ABORT, 'ledger_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_checkpoints_append_only_d BEFORE DELETE ON ledger_checkpoints
    BEGIN SELECT RAISE(ABORT, 'ledger_checkpoints is append-only'); END;
CREATE TABLE IF NOT EXISTS outbox_deliveries (
    event_id   INTEGER NOT NULL REFERENCES outbox(id),
    plugin     TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    next_ms    INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (event_id, plugin)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_deliveries_dead ON outbox_deliveries(state, event_id);
CREATE INDEX IF NOT EXISTS outbox_undelivered ON outbox(delivered_ms, id);
CREATE TABLE IF NOT EXISTS plugin_kv (
    plugin TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipts (
    bid_id TEXT NOT NULL,
    kind   TEXT NOT NULL,
    doc    BLOB NOT NULL,
    PRIMARY KEY (bid_id, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roles (
    fp        TEXT PRIMARY KEY,
    role      TEXT NOT NULL,
    org       TEXT NOT NULL,
    status    TEXT NOT NULL,
    time_ms   INTEGER NOT NULL,
    by        TEXT NOT NULL,
    log_index INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS request_nonces_by_time ON request_nonces(time_ms);
"""
# columns added after a table was first created: (table, column, definition)
_ADDED_COLUMNS = [("bids", "lot", "TEXT NOT NULL DEFAULT '1'")]


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open SQLite database {path}: {exc}") from None
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"SQLite database {path} refuses WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot configure SQLite database {path}: {exc}") from None
    return conn


def _blob(v: object, what: str) -> bytes:
    if not isinstance(v, bytes):
        raise StoreError(f"corrupt store: {what} is a {type(v).__name__}, not a blob")
    return v


class _SQLiteLedgerReads:
    _conn: sqlite3.Connection

    def ledger_meta(self) -> dict[str, str]:
        return {k: v for k, v in self._conn.execute("SELECT key, value FROM ledger_meta")}

    def ledger_size(self) -> int:
        row = self._conn.execute("SELECT MAX(idx) FROM ledger_leaves").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def ledger_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        # One primary-key point lookup per id (a proof needs about log2(n) of them). A row-value
        # ``IN (VALUES ...)`` would be one statement but SQLite plans it as a full table scan.
        out: dict[NodeId, bytes] = {}
        q = "SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?"
        ex = self._conn.execute
        for level, idx in ids:
            row = ex(q, (level, idx)).fetchone()
            if row is not None:
                out[(level, idx)] = _blob(row[0], f"node ({level}, {idx})")
        return out

    def ledger_leaves(self, start: int, end: int) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT leaf FROM ledger_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [_blob(r[0], "a leaf") for r in rows]

    def ledger_iter_leaves(self, start: int = 0, chunk: int = 4096) -> Iterator[tuple[int, bytes]]:
        pos = start
        while True:
            rows = self._conn.execute(
                "SELECT idx, leaf FROM ledger_leaves WHERE idx >= ? ORDER BY idx LIMIT ?", (pos, chunk)
            ).fetchall()
            if not rows:
                return
            for idx, leaf in rows:
                yield int(idx), _blob(leaf, f"leaf {idx}")
            pos = int(rows[-1][0]) + 1

    def ledger_iter_nodes(self, level: int, chunk: int = 4096) -> Iterator[tuple[int, bytes]]:
        pos = 0
        while True:
            rows = self._conn.execute(
                "SELECT idx, hash FROM ledger_nodes WHERE level = ? AND idx >= ? ORDER BY idx LIMIT ?",
                (level, pos, chunk),
            ).fetchall()
            if not rows:
                return
            for idx, h in rows:
                yield int(idx), _blob(h, f"node ({level}, {idx})")
            pos = int(rows[-1][0]) + 1

    def ledger_checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._conn.execute(
            "SELECT seq, size, root, time_ms, note FROM ledger_checkpoints ORDER BY seq"
        ).fetchall()
        return [
            StoredCheckpoint(int(a), int(b), _blob(c, "a checkpoint root"), int(d), str(e)) for a, b, c, d, e in rows
        ]

    def ledger_latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._conn.execute(
            "SELECT seq, size, root, time_ms, note FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return StoredCheckpoint(int(row[0]), int(row[1]), _blob(row[2], "a checkpoint root"), int(row[3]), str(row[4]))


_BID_COLS = (
    "id, tender_id, bidder_fp, bidder_org, status, received_ms, log_index, amendment_seq, replaces, nonce, manifest,"
    " lot"
)


def _bid(r: Sequence[object]) -> BidRow:
    return BidRow(
        str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]), int(r[6]),  # type: ignore[call-overload]
        int(r[7]), None if r[8] is None else str(r[8]), str(r[9]), _blob(r[10], "a bid manifest"),  # type: ignore[call-overload]
        str(r[11]),
    )  # fmt: skip


def _tender(r: Sequence[object]) -> TenderRow:
    return TenderRow(str(r[0]), str(r[1]), str(r[2]), int(r[3]), bool(r[4]), _blob(r[5], "a tender document"))  # type: ignore[call-overload]


_DELIVERY_COLS = "event_id, plugin, state, attempts, next_ms, last_error, updated_ms"


def _outbox(r: Sequence[object]) -> OutboxRow:
    return OutboxRow(int(r[0]), str(r[1]), str(r[2]), _blob(r[3], "an outbox payload"), int(r[4]),  # type: ignore[call-overload]
                     None if r[5] is None else int(r[5]))  # type: ignore[call-overload]  # fmt: skip


def _delivery(r: Sequence[object]) -> DeliveryRow:
    return DeliveryRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), str(r[5]), int(r[6]))  # type: ignore[call-overload]


class _SQLiteKernelReads:
    _conn: sqlite3.Connection

    def tender_get(self, tender_id: str) -> TenderRow | None:
        row = self._conn.execute(
            "SELECT id, agency_org, state, deadline_ms, sealed, doc FROM tenders WHERE id = ?", (tender_id,)
        ).fetchone()
        return None if row is None else _tender(row)

    def tenders_list(self) -> list[TenderRow]:
        rows = self._conn.execute("SELECT id, agency_org, state, deadline_ms, sealed, doc FROM tenders ORDER BY id")
        return [_tender(r) for r in rows]

    def bid_get(self, bid_id: str) -> BidRow | None:
        row = self._conn.execute(f"SELECT {_BID_COLS} FROM bids WHERE id = ?", (bid_id,)).fetchone()  # noqa: S608
        return None if row is None else _bid(row)

    def bids_of_tender(self, tender_id: str, *, bidder_fp: str | None = None) -> list[BidRow]:
        if bidder_fp is None:
            rows = self._conn.execute(
                f"SELECT {_BID_COLS} FROM bids WHERE tender_id = ? ORDER BY log_index",  # noqa: S608
                (tender_id,),
            )
        else:
            rows = self._conn.execute(
                f"SELECT {_BID_COLS} FROM bids WHERE tender_id = ? AND bidder_fp = ? ORDER BY log_index",  # noqa: S608
                (tender_id, bidder_fp),
            )
        return [_bid(r) for r in rows]

    def blob_refs(self) -> set[str]:
        return {str(r[0]) for r in self._conn.execute("SELECT DISTINCT sm3 FROM bid_blobs")}

    def blob_referenced(self, sm3_hex: str) -> bool:
        return self._conn.execute("SELECT 1 FROM bid_blobs WHERE sm3 = ? LIMIT 1", (sm3_hex,)).fetchone() is not None

    def certificate_get(self, fp_hex: str) -> bytes | None:
        row = self._conn.execute("SELECT der FROM certificates WHERE fp = ?", (fp_hex,)).fetchone()
        return None if row is None else _blob(row[0], "a certificate")

    def revoked(self, fp_hex: str) -> bool:
        return self._conn.execute("SELECT 1 FROM revocations WHERE fp = ?", (fp_hex,)).fetchone() is not None

    def nonce_used(self, nonce: str) -> bool:
        return self._conn.execute("SELECT 1 FROM request_nonces WHERE nonce = ?", (nonce,)).fetchone() is not None

    def closing_get(self, tender_id: str) -> bytes | None:
        row = self._conn.execute("SELECT doc FROM closings WHERE tender_id = ?", (tender_id,)).fetchone()
        return None if row is None else _blob(row[0], "a closing record")

    def outbox_pending(self, limit: int = 100) -> list[tuple[int, str, str, bytes]]:
        rows = self._conn.execute(
            "SELECT id, kind, key, payload FROM outbox WHERE delivered_ms IS NULL ORDER BY id LIMIT ?", (limit,)
        )
        return [(int(a), str(b), str(c), _blob(d, "an outbox payload")) for a, b, c, d in rows]

    def outbox_list(self, *, after_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        rows = self._conn.execute(
            "SELECT id, kind, key, payload, created_ms, delivered_ms FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [_outbox(r) for r in rows]

    def outbox_get(self, event_id: int) -> OutboxRow | None:
        row = self._conn.execute(
            "SELECT id, kind, key, payload, created_ms, delivered_ms FROM outbox WHERE id = ?", (event_id,)
        ).fetchone()
        return None if row is None else _outbox(row)

    def delivery_states(self, event_ids: Sequence[int]) -> dict[int, dict[str, DeliveryRow]]:
        out: dict[int, dict[str, DeliveryRow]] = {}
        q = f"SELECT {_DELIVERY_COLS} FROM outbox_deliveries WHERE event_id = ?"  # noqa: S608
        for i in event_ids:
            for r in self._conn.execute(q, (i,)):
                d = _delivery(r)
                out.setdefault(d.event_id, {})[d.plugin] = d
        return out

    def deliveries_dead(self, limit: int = 1000) -> list[DeliveryRow]:
        rows = self._conn.execute(
            f"SELECT {_DELIVERY_COLS} FROM outbox_deliveries WHERE state = 'dead' ORDER BY event_id, plugin LIMIT ?",  # noqa: S608
            (limit,),
        )
        return [_delivery(r) for r in rows]

    def plugin_kv_get(self, plugin: str, key: str) -> bytes | None:
        row = self._conn.execute("SELECT value FROM plugin_kv WHERE plugin = ? AND key = ?", (plugin, key)).fetchone()
        return None if row is None else _blob(row[0], "a plugin value")

    def plugin_kv_keys(self, plugin: str, prefix: str = "") -> list[str]:
        rows = self._conn.execute(
            "SELECT key FROM plugin_kv WHERE plugin = ? AND substr(key, 1, ?) = ? ORDER BY key",
            (plugin, len(prefix), prefix),
        )
        return [str(r[0]) for r in rows]

    # --- intake additions (issue 7) ---
    def receipt_get(self, bid_id: str, kind: str) -> bytes | None:
        row = self._conn.execute("SELECT doc FROM receipts WHERE bid_id = ? AND kind = ?", (bid_id, kind)).fetchone()
        return None if row is None else _blob(row[0], "a receipt")

    def role_get(self, fp_hex: str) -> RoleEntry | None:
        row = self._conn.execute(f"SELECT {_ROLE_COLS} FROM roles WHERE fp = ?", (fp_hex,)).fetchone()  # noqa: S608
        return None if row is None else _role(row)

    def roles_list(self) -> list[RoleEntry]:
        return [_role(r) for r in self._conn.execute(f"SELECT {_ROLE_COLS} FROM roles ORDER BY time_ms, fp")]  # noqa: S608

    def nonces_since(self, time_ms: int) -> list[tuple[str, int]]:
        rows = self._conn.execute("SELECT nonce, time_ms FROM request_nonces WHERE time_ms >= ?", (time_ms,))
        return [(str(a), int(b)) for a, b in rows]

    # --- the opening (issue 8) ------------------------------------------------------------------
    def opening_get(self, tender_id: str) -> bytes | None:
        row = self._conn.execute("SELECT doc FROM openings WHERE tender_id = ?", (tender_id,)).fetchone()
        return None if row is None else _blob(row[0], "an opening document")

    def openings_in_state(self, state: str) -> list[str]:
        rows = self._conn.execute("SELECT tender_id FROM openings WHERE state = ? ORDER BY tender_id", (state,))
        return [str(r[0]) for r in rows]

    def opening_entry_get(self, tender_id: str, kind: str, key: str) -> bytes | None:
        row = self._conn.execute(
            "SELECT doc FROM opening_entries WHERE tender_id = ? AND kind = ? AND key = ?", (tender_id, kind, key)
        ).fetchone()
        return None if row is None else _blob(row[0], "an opening entry")

    def opening_entries(self, tender_id: str, kind: str) -> list[tuple[str, bytes]]:
        rows = self._conn.execute(
            "SELECT key, doc FROM opening_entries WHERE tender_id = ? AND kind = ? ORDER BY key", (tender_id, kind)
        )
        return [(str(k), _blob(d, "an opening entry")) for k, d in rows]


class SQLiteReader(_SQLiteLedgerReads, _SQLiteKernelReads, Reader):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class SQLiteTransaction(_SQLiteLedgerReads, _SQLiteKernelReads, Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sp = itertools.count()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        name = f"sp{next(self._sp)}"
        self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._conn.execute(f"ROLLBACK TO {name}")
            self._conn.execute(f"RELEASE {name}")
            raise
        self._conn.execute(f"RELEASE {name}")

    def ledger_init(self, meta: Mapping[str, str]) -> None:
        if self.ledger_meta():
            raise StoreError("the ledger is already initialised")
        self._conn.executemany("INSERT INTO ledger_meta(key, value) VALUES (?, ?)", sorted(meta.items()))

    def ledger_append(self, start: int, leaves: Sequence[bytes], nodes: Sequence[tuple[int, int, bytes]]) -> None:
        size = self.ledger_size()
        if start != size:
            raise StoreError(f"append at index {start} but the ledger holds {size} leaves")
        self._conn.executemany(
            "INSERT INTO ledger_leaves(idx, leaf) VALUES (?, ?)",
            ((start + i, leaf) for i, leaf in enumerate(leaves)),
        )
        self._conn.executemany("INSERT INTO ledger_nodes(level, idx, hash) VALUES (?, ?, ?)", nodes)

    def ledger_add_checkpoint(self, size: int, root: bytes, time_ms: int, note: str) -> StoredCheckpoint:
        cur = self._conn.execute(
            "INSERT INTO ledger_checkpoints(size, root, time_ms, note) VALUES (?, ?, ?, ?)",
            (size, root, time_ms, note),
        )
        seq = cur.lastrowid
        assert seq is not None
        return StoredCheckpoint(int(seq), size, root, time_ms, note)

    def tender_put(self, row: TenderRow) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO tenders(id, agency_org, state, deadline_ms, sealed, doc) VALUES (?, ?, ?, ?, ?, ?)",
            (row.id, row.agency_org, row.state, row.deadline_ms, int(row.sealed), row.doc),
        )

    def bid_insert(self, row: BidRow, blobs: Sequence[str]) -> None:
        self.nonce_record(row.nonce, row.received_ms)
        try:
            self._conn.execute(
                f"INSERT INTO bids({_BID_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    row.id, row.tender_id, row.bidder_fp, row.bidder_org, row.status, row.received_ms,
                    row.log_index, row.amendment_seq, row.replaces, row.nonce, row.manifest, row.lot,
                ),
            )  # fmt: skip
        except sqlite3.IntegrityError:
            raise DuplicateError("a submission with this id or request nonce exists") from None
        self._conn.executemany(
            "INSERT OR IGNORE INTO bid_blobs(sm3, bid_id) VALUES (?, ?)", ((h, row.id) for h in blobs)
        )

    def bid_set_status(self, bid_id: str, status: str) -> None:
        self._conn.execute("UPDATE bids SET status = ? WHERE id = ?", (status, bid_id))

    def nonce_record(self, nonce: str, time_ms: int) -> None:
        try:
            self._conn.execute("INSERT INTO request_nonces(nonce, time_ms) VALUES (?, ?)", (nonce, time_ms))
        except sqlite3.IntegrityError:
            raise DuplicateError("request nonce already used") from None

    def certificate_put(self, fp_hex: str, der: bytes) -> None:
        self._conn.execute("INSERT OR IGNORE INTO certificates(fp, der) VALUES (?, ?)", (fp_hex, der))

    def revocation_add(self, fp_hex: str, reason: str, time_ms: int) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO revocations(fp, reason, time_ms) VALUES (?, ?, ?)", (fp_hex, reason, time_ms)
        )

    def closing_put(self, tender_id: str, doc: bytes) -> None:
        self._conn.execute("INSERT OR REPLACE INTO closings(tender_id, doc) VALUES (?, ?)", (tender_id, doc))

    def outbox_add(self, kind: str, key: str, payload: bytes, time_ms: int) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO outbox(kind, key, payload, created_ms) VALUES (?, ?, ?, ?)",
            (kind, key, payload, time_ms),
        )

    def outbox_delivered(self, ids: Sequence[int], time_ms: int) -> None:
        self._conn.executemany("UPDATE outbox SET delivered_ms = ? WHERE id = ?", ((time_ms, i) for i in ids))

    def delivery_put(self, row: DeliveryRow) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO outbox_deliveries({_DELIVERY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (row.event_id, row.plugin, row.state, row.attempts, row.next_ms, row.last_error, row.updated_ms),
        )

    def delivery_replay(self, event_id: int, plugin: str | None) -> int:
        if plugin is None:
            cur = self._conn.execute(
                "UPDATE outbox_deliveries SET state = 'retry', attempts = 0, next_ms = 0 "
                "WHERE event_id = ? AND state = 'dead'",
                (event_id,),
            )
        else:
            cur = self._conn.execute(
                "UPDATE outbox_deliveries SET state = 'retry', attempts = 0, next_ms = 0 "
                "WHERE event_id = ? AND plugin = ? AND state = 'dead'",
                (event_id, plugin),
            )
        n = int(cur.rowcount)
        if n:
            self._conn.execute("UPDATE outbox SET delivered_ms = NULL WHERE id = ?", (event_id,))
        return n

    def plugin_kv_put(self, plugin: str, key: str, value: bytes) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO plugin_kv(plugin, key, value) VALUES (?, ?, ?)", (plugin, key, value)
        )

    def plugin_kv_delete(self, plugin: str, key: str) -> None:
        self._conn.execute("DELETE FROM plugin_kv WHERE plugin = ? AND key = ?", (plugin, key))

    # --- intake additions (issue 7) ---
    def receipt_put(self, bid_id: str, kind: str, doc: bytes) -> None:
        self._conn.execute("INSERT OR IGNORE INTO receipts(bid_id, kind, doc) VALUES (?, ?, ?)", (bid_id, kind, doc))

    def role_put(self, entry: RoleEntry) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO roles({_ROLE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (entry.fp, entry.role, entry.org, entry.status, entry.time_ms, entry.by, entry.log_index),
        )

    def nonce_insert_new(self, nonce: str, time_ms: int) -> bool:
        cur = self._conn.execute("INSERT OR IGNORE INTO request_nonces(nonce, time_ms) VALUES (?, ?)", (nonce, time_ms))
        return cur.rowcount == 1

    def nonces_prune(self, before_ms: int) -> None:
        self._conn.execute("DELETE FROM request_nonces WHERE time_ms < ?", (before_ms,))

    # --- the opening (issue 8) ------------------------------------------------------------------
    def opening_put(self, tender_id: str, state: str, doc: bytes) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO openings(tender_id, state, doc) VALUES (?, ?, ?)", (tender_id, state, doc)
        )

    def opening_entry_put(self, tender_id: str, kind: str, key: str, doc: bytes, *, replace: bool = True) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        try:
            self._conn.execute(
                f"{verb} INTO opening_entries(tender_id, kind, key, doc) VALUES (?, ?, ?, ?)",
                (tender_id, kind, key, doc),
            )
        except sqlite3.IntegrityError:
            raise DuplicateError("this opening entry exists") from None


class SQLiteStore(Store):
    """The embedded default backend. ``path`` is the database file (created if absent)."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._writer = _connect(self.path, timeout)
        try:
            self._writer.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            for table, col, definition in _ADDED_COLUMNS:
                have = {r[1] for r in self._writer.execute(f"PRAGMA table_info({table})")}
                if col not in have:
                    self._writer.execute(f"ALTER TABLE {table} ADD COLUMN {col} {definition}")
        except sqlite3.Error as exc:
            self._writer.close()
            raise StoreError(f"cannot create the schema in {self.path}: {exc}") from None
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            row = self._writer.execute("SELECT value FROM store_meta WHERE key = 'schema'").fetchone()
            if row is None:
                self._writer.execute("INSERT INTO store_meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {row[0]}; this kernel reads {SCHEMA_VERSION}")
            self._writer.execute("COMMIT")
        except BaseException:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            self._writer.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        self._check_open()
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot begin a write transaction: {exc}") from None
            try:
                yield SQLiteTransaction(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"commit failed: {exc}") from None
            fsyncs.count("sqlite_commit")

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        self._check_open()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._timeout)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            yield SQLiteReader(conn)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._write_lock:
            self._writer.close()
        with self._readers_lock:
            for c in self._readers:
                try:
                    c.close()
                except sqlite3.ProgrammingError:  # pragma: no cover - closed from its thread already
                    pass
            self._readers.clear()

    # --- intake additions (issue 7) ---
    @contextmanager
    def relaxed_transaction(self) -> Iterator[Transaction]:
        """A write transaction committed with ``synchronous=NORMAL``: no fsync of its own. It survives a
        process crash or restart (the WAL frames are in the page cache, and the next durable commit
        fsyncs them), not a power cut before that. For records that can be rebuilt (see callers)."""
        self._check_open()
        with self._write_lock:
            conn = self._writer
            conn.execute("PRAGMA synchronous=NORMAL")
            try:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise StoreError(f"cannot begin a write transaction: {exc}") from None
                try:
                    yield SQLiteTransaction(conn)
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise StoreError(f"commit failed: {exc}") from None
            finally:
                conn.execute("PRAGMA synchronous=FULL")

    def nonces_record_fast(self, nonces: Sequence[tuple[str, int]]) -> list[bool]:
        """Record read requests' nonces in a :meth:`relaxed_transaction`. Returns per nonce whether it was fresh."""
        with self.relaxed_transaction() as tx:
            return [tx.nonce_insert_new(n, t) for n, t in nonces]


_ROLE_COLS = "fp, role, org, status, time_ms, by, log_index"


def _role(r: Sequence[object]) -> RoleEntry:
    return RoleEntry(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5]), int(r[6]))  # type: ignore[call-overload]
