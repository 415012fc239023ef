"""The storage interface. All SQL lives below ``bidkernel.store``; services see only these types.

Two kinds of handle:

* :meth:`Store.transaction` — a *write* transaction. Exactly one at a time per database (other
  writers, in this process or another, wait). Everything done through it becomes durable together
  when the ``with`` block exits normally (one commit, one fsync) or vanishes together if it
  raises. :meth:`Transaction.savepoint` nests a part that can fail alone. The ledger's group
  committer writes a whole batch of leaves in one transaction; a recipe such as intake hands the
  ledger a callback that writes its own rows (bid rows, outbox events) in that same transaction,
  so a bid row and its leaf are committed together or not at all.
* :meth:`Store.reader` — a read-only snapshot, usable concurrently with a writer.

Each service adds a group of methods to these classes (``ledger_*`` here; ``bids_*`` and
``outbox_*`` later). A PostgreSQL backend implements the same classes: ``transaction`` maps to
``BEGIN ... COMMIT`` with the ledger head row locked (``SELECT ... FOR UPDATE``) so several kernel
nodes may append to one log; ``reader`` to a ``REPEATABLE READ`` read-only transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

NodeId = tuple[int, int]


class StoreError(Exception):
    """A storage failure (I/O, corruption, schema mismatch). The message never carries row data."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as kept by the log: ``seq`` orders them, ``note`` is the signed-note text."""

    seq: int
    size: int
    root: bytes
    time_ms: int
    note: str


class LedgerReads(ABC):
    """Read access to the ledger tables (also available inside a write transaction)."""

    @abstractmethod
    def ledger_meta(self) -> dict[str, str]:
        """The log's fixed parameters (origin, hash, leaf format), empty for a new store."""

    @abstractmethod
    def ledger_size(self) -> int:
        """Number of leaves committed."""

    @abstractmethod
    def ledger_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """Stored perfect-node hashes for ``ids``; ids not stored are absent from the result."""

    @abstractmethod
    def ledger_leaves(self, start: int, end: int) -> list[bytes]:
        """Leaf bytes ``start`` to ``end`` (exclusive), in order; shorter if the log is shorter."""

    @abstractmethod
    def ledger_iter_leaves(self, start: int = 0, chunk: int = 4096) -> Iterator[tuple[int, bytes]]:
        """Every leaf from ``start`` on, in order, read in chunks."""

    @abstractmethod
    def ledger_iter_nodes(self, level: int, chunk: int = 4096) -> Iterator[tuple[int, bytes]]:
        """Every stored perfect node of ``level`` as ``(index, hash)``, in index order."""

    @abstractmethod
    def ledger_checkpoints(self) -> list[StoredCheckpoint]:
        """All stored checkpoints in ``seq`` order."""

    @abstractmethod
    def ledger_latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint with the highest ``seq``, if any."""


@dataclass(frozen=True)
class TenderRow:
    """A tender as stored: ``doc`` is its JSON document (bytes), the other columns are indexed copies."""

    id: str
    agency_org: str
    state: str
    deadline_ms: int
    sealed: bool
    doc: bytes


@dataclass(frozen=True)
class BidRow:
    """One submission (a bid version). ``status`` is ``live``, ``replaced`` or ``withdrawn``;
    ``manifest`` is the JSON of its envelopes (names, SM3 digests, sizes, signatures)."""

    id: str
    tender_id: str
    bidder_fp: str
    bidder_org: str
    status: str
    received_ms: int
    log_index: int
    amendment_seq: int
    replaces: str | None
    nonce: str
    manifest: bytes
    lot: str = "1"  # the lot (标段) this submission is for; "latest counts" is per (bidder, tender, lot)


@dataclass(frozen=True)
class OutboxRow:
    """One outbox event: ``key`` is its idempotency key; ``delivered_ms`` is set once every plugin
    that implements its hook has it (done or dead-lettered)."""

    id: int
    kind: str
    key: str
    payload: bytes
    created_ms: int
    delivered_ms: int | None


@dataclass(frozen=True)
class DeliveryRow:
    """Delivery of one outbox event to one plugin: ``state`` is ``retry``, ``done`` or ``dead``."""

    event_id: int
    plugin: str
    state: str
    attempts: int
    next_ms: int
    last_error: str
    updated_ms: int


class KernelReads(ABC):
    """Read access to the kernel's tables: tenders, bids, blob references, certificates, revocations, outbox."""

    @abstractmethod
    def tender_get(self, tender_id: str) -> TenderRow | None: ...

    @abstractmethod
    def tenders_list(self) -> list[TenderRow]: ...

    @abstractmethod
    def bid_get(self, bid_id: str) -> BidRow | None: ...

    @abstractmethod
    def bids_of_tender(self, tender_id: str, *, bidder_fp: str | None = None) -> list[BidRow]:
        """Every submission to ``tender_id`` (optionally one bidder's), oldest first."""

    @abstractmethod
    def blob_refs(self) -> set[str]:
        """SM3 hex of every blob some bid references (for the orphan sweep at start-up)."""

    @abstractmethod
    def blob_referenced(self, sm3_hex: str) -> bool: ...

    @abstractmethod
    def certificate_get(self, fp_hex: str) -> bytes | None:
        """DER of a certificate seen before (so later requests may name it by fingerprint)."""

    @abstractmethod
    def revoked(self, fp_hex: str) -> bool: ...

    @abstractmethod
    def nonce_used(self, nonce: str) -> bool:
        """True if a state-changing request with this nonce was committed (durable replay guard)."""

    @abstractmethod
    def closing_get(self, tender_id: str) -> bytes | None: ...

    @abstractmethod
    def outbox_pending(self, limit: int = 100) -> list[tuple[int, str, str, bytes]]:
        """Undelivered outbox events as ``(id, kind, idempotency key, payload)``, oldest first."""

    # --- plugin delivery (issue 9): per-plugin delivery state, dead letters, plugin storage --------
    @abstractmethod
    def outbox_list(self, *, after_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Outbox events (delivered or not) with ``id > after_id``, oldest first."""

    @abstractmethod
    def outbox_get(self, event_id: int) -> OutboxRow | None: ...

    @abstractmethod
    def delivery_states(self, event_ids: Sequence[int]) -> dict[int, dict[str, DeliveryRow]]:
        """Per event id, per plugin name: the recorded delivery state (absent = never attempted)."""

    @abstractmethod
    def deliveries_dead(self, limit: int = 1000) -> list[DeliveryRow]:
        """Dead-lettered deliveries, oldest event first."""

    @abstractmethod
    def plugin_kv_get(self, plugin: str, key: str) -> bytes | None: ...

    @abstractmethod
    def plugin_kv_keys(self, plugin: str, prefix: str = "") -> list[str]: ...
    # --- intake additions (issue 7): stored receipts, the role registry, the nonce journal ---
    @abstractmethod
    def receipt_get(self, bid_id: str, kind: str) -> bytes | None:
        """The exact bytes of the receipt issued for ``bid_id``'s ``kind`` event (``bid.received``...)."""

    @abstractmethod
    def role_get(self, fp_hex: str) -> RoleEntry | None:
        """The registry entry for a certificate fingerprint, if the operator made one."""

    @abstractmethod
    def roles_list(self) -> list[RoleEntry]: ...

    @abstractmethod
    def nonces_since(self, time_ms: int) -> list[tuple[str, int]]:
        """Request nonces recorded at or after ``time_ms`` (to re-arm the replay cache after a restart)."""

    # --- the opening (issue 8) ------------------------------------------------------------------
    @abstractmethod
    def opening_get(self, tender_id: str) -> bytes | None:
        """The opening's status document (JSON), if the opening has started."""

    @abstractmethod
    def openings_in_state(self, state: str) -> list[str]:
        """Tender ids whose opening is in ``state`` (e.g. ``opening``: still running)."""

    @abstractmethod
    def opening_entry_get(self, tender_id: str, kind: str, key: str) -> bytes | None: ...

    @abstractmethod
    def opening_entries(self, tender_id: str, kind: str) -> list[tuple[str, bytes]]:
        """Every ``(key, doc)`` of one kind (custody setup, share releases, key releases, progress...)."""


class Transaction(LedgerReads, KernelReads):
    """A write transaction (see the module docstring)."""

    @abstractmethod
    def tender_put(self, row: TenderRow) -> None:
        """Insert or replace a tender."""

    @abstractmethod
    def bid_insert(self, row: BidRow, blobs: Sequence[str]) -> None:
        """Insert a submission and its blob references; a reused ``nonce`` raises :class:`DuplicateError`."""

    @abstractmethod
    def bid_set_status(self, bid_id: str, status: str) -> None: ...

    @abstractmethod
    def nonce_record(self, nonce: str, time_ms: int) -> None:
        """Remember a state-changing request's nonce; a reused one raises :class:`DuplicateError`."""

    @abstractmethod
    def certificate_put(self, fp_hex: str, der: bytes) -> None: ...

    @abstractmethod
    def revocation_add(self, fp_hex: str, reason: str, time_ms: int) -> None: ...

    @abstractmethod
    def closing_put(self, tender_id: str, doc: bytes) -> None: ...

    @abstractmethod
    def outbox_add(self, kind: str, key: str, payload: bytes, time_ms: int) -> None:
        """Queue an event for plugins (delivered after commit, at least once, keyed by ``key``)."""

    @abstractmethod
    def outbox_delivered(self, ids: Sequence[int], time_ms: int) -> None: ...

    # --- intake additions (issue 7) ---
    @abstractmethod
    def receipt_put(self, bid_id: str, kind: str, doc: bytes) -> None:
        """Store a receipt's exact bytes (once; a second put for the same key is ignored)."""

    @abstractmethod
    def role_put(self, entry: RoleEntry) -> None:
        """Insert or replace the registry entry of ``entry.fp``."""

    @abstractmethod
    def nonce_insert_new(self, nonce: str, time_ms: int) -> bool:
        """Remember a nonce; ``False`` (and no change) if it was already there."""

    @abstractmethod
    def nonces_prune(self, before_ms: int) -> None:
        """Forget request nonces recorded before ``before_ms`` (outside every replay window)."""

    @abstractmethod
    def savepoint(self) -> AbstractContextManager[None]:
        """A nested part of the transaction: rolled back alone if its ``with`` block raises."""

    @abstractmethod
    def ledger_init(self, meta: Mapping[str, str]) -> None:
        """Record the log's fixed parameters; only on an empty log."""

    @abstractmethod
    def ledger_append(self, start: int, leaves: Sequence[bytes], nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Append ``leaves`` at indices ``start..`` and store the perfect ``nodes`` they complete.

        ``start`` must equal the current size (the backend checks; appends never overwrite).
        """

    @abstractmethod
    def ledger_add_checkpoint(self, size: int, root: bytes, time_ms: int, note: str) -> StoredCheckpoint:
        """Store a signed checkpoint; returns it with its ``seq``."""

    @abstractmethod
    def delivery_put(self, row: DeliveryRow) -> None:
        """Insert or replace the delivery state of one (event, plugin)."""

    @abstractmethod
    def delivery_replay(self, event_id: int, plugin: str | None) -> int:
        """Reset dead deliveries of ``event_id`` (one plugin's, or all) to pending and mark the event
        undelivered again; returns how many were reset."""

    @abstractmethod
    def plugin_kv_put(self, plugin: str, key: str, value: bytes) -> None: ...

    @abstractmethod
    def plugin_kv_delete(self, plugin: str, key: str) -> None: ...
    # --- the opening (issue 8) ------------------------------------------------------------------
    @abstractmethod
    def opening_put(self, tender_id: str, state: str, doc: bytes) -> None:
        """Insert or replace the opening's status document."""

    @abstractmethod
    def opening_entry_put(self, tender_id: str, kind: str, key: str, doc: bytes, *, replace: bool = True) -> None:
        """Store one opening entry; with ``replace=False`` an existing one raises :class:`DuplicateError`."""


class DuplicateError(StoreError):
    """A uniqueness constraint refused the write (a replayed nonce, an existing id)."""


class Reader(LedgerReads, KernelReads):
    """A read-only snapshot."""


class Store(ABC):
    """A storage backend."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction, durable on normal exit, rolled back on an exception."""

    @abstractmethod
    def reader(self) -> AbstractContextManager[Reader]:
        """A consistent read-only snapshot."""

    @abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""

    @abstractmethod
    def relaxed_transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction whose commit need not be durable against a power cut by itself (no fsync of
        its own) but survives a process crash or restart; for records that can be rebuilt (issue 7)."""

    @abstractmethod
    def nonces_record_fast(self, nonces: Sequence[tuple[str, int]]) -> list[bool]:
        """Record read requests' nonces in a relaxed transaction. Returns per nonce whether it was fresh."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class RoleEntry:
    """The operator's registry entry for one certificate (SM3 fingerprint ``fp``).

    ``status`` ``granted``: the caller acts as ``role`` of ``org`` whatever its certificate's OU/O say;
    ``revoked``: the caller has no role at all (every signed request is refused).
    """

    fp: str
    role: str
    org: str
    status: str
    time_ms: int
    by: str
    log_index: int
