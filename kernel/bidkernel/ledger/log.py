"""The append-only transparency log: group commit, signed checkpoints, proofs.

Appends (from threads through :meth:`TransparencyLog.append` / :meth:`~TransparencyLog.submit`, from
asyncio through :meth:`~TransparencyLog.append_async`) queue up for one background committer thread.
It takes everything queued — up to ``max_batch`` items, optionally lingering ``max_delay_ms`` for
more — and writes it in ONE store transaction: leaves, the perfect nodes they complete
(RFC 9162 §2.1.1) and whatever the callers' ``within`` callbacks write. One commit, one fsync; only
then do the callers get their indices. A ``within`` callback that raises is rolled back alone (a
savepoint) and its append fails; the rest of the batch commits.

Checkpoints (:mod:`bidkernel.ledger.checkpoint`) are signed after a commit every
``checkpoint_every_n`` entries or ``checkpoint_every_ms`` milliseconds, and on demand. Before
signing, the log proves the new tree consistent (RFC 9162 §2.1.4) with the last checkpoint it
signed, from the stored nodes, and refuses to sign otherwise.

On open the log recomputes its stored state (leaf hashes from leaf bytes, every perfect node,
every checkpoint's root and signature) and refuses to start if anything differs.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bidkernel.ledger import merkle
from bidkernel.ledger.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    SignedCheckpoint,
    open_checkpoint,
    sign_checkpoint,
)
from bidkernel.ledger.errors import (
    CheckpointError,
    LedgerClosedError,
    LedgerError,
    LedgerStateError,
    NoteError,
    ProofError,
)
from bidkernel.ledger.events import Event
from bidkernel.ledger.proofs import ConsistencyProof, InclusionProof
from bidkernel.store.base import LedgerReads, Store, StoredCheckpoint, StoreError, Transaction

log = logging.getLogger("bidkernel.ledger")

LEAF_FORMAT = "bidkernel/event/v1"
Within = Callable[[Transaction, int], None]
"""Called inside the batch transaction with the index the leaf will get; writes the caller's rows."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class LogConfig:
    """Parameters of a log. ``origin`` and ``hash`` are fixed at creation and checked on open."""

    origin: str
    hasher: merkle.TreeHasher = merkle.SM3
    max_batch: int = 1024
    max_delay_ms: float = 0.0
    checkpoint_every_n: int = 1024
    checkpoint_every_ms: int = 1000
    verify_on_open: Literal["full", "checkpoints"] = "full"
    # sign a checkpoint inside every batch's own transaction (receipts then need no second commit)
    checkpoint_on_commit: bool = False


@dataclass
class _Item:
    leaf: bytes
    within: Within | None
    future: concurrent.futures.Future[int] = field(default_factory=concurrent.futures.Future)


class LogReader:
    """Read side of a log: leaves, roots, proofs, checkpoints. Needs only the store and the log's
    fixed parameters, so the kernel API (and the CLI) can serve proofs without the committer.
    Every method is a pure function of the store's committed state; results are plain dataclasses
    with ``to_json()``.
    """

    def __init__(self, store: Store, origin: str, hasher: merkle.TreeHasher = merkle.SM3) -> None:
        self.store = store
        self.origin = origin
        self.hasher = hasher

    @classmethod
    def from_store(cls, store: Store) -> LogReader:
        """A reader for whatever log ``store`` holds (origin and hash from its metadata)."""
        with store.reader() as r:
            meta = r.ledger_meta()
        if not meta:
            raise LedgerError("no_log", "the store holds no ledger")
        if meta.get("leaf_format") != LEAF_FORMAT:
            raise LedgerError("wrong_log", f"unknown leaf format {meta.get('leaf_format')!r}")
        try:
            hasher = merkle.hasher_by_name(meta.get("hash", ""))
        except ValueError as exc:
            raise LedgerError("wrong_log", str(exc)) from None
        return cls(store, meta["origin"], hasher)

    def current_size(self) -> int:
        with self.store.reader() as r:
            return r.ledger_size()

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with self.store.reader() as r:
            s = r.ledger_latest_checkpoint()
        if s is None:
            return None
        return SignedCheckpoint(Checkpoint(self.origin, s.size, s.root, s.time_ms), s.note)

    def root(self, size: int | None = None) -> bytes:
        with self.store.reader() as r:
            n = r.ledger_size() if size is None else size
            self._check_size(r, n)
            return merkle.root_from_nodes(self.hasher, n, r.ledger_nodes)

    def leaf(self, index: int) -> bytes:
        with self.store.reader() as r:
            got = r.ledger_leaves(index, index + 1)
        if not got:
            raise LedgerError("no_leaf", f"no leaf at index {index}")
        return got[0]

    def _check_size(self, r: LedgerReads, size: int) -> int:
        have = r.ledger_size()
        if not 0 <= size <= have:
            raise LedgerError("bad_size", f"tree size {size} is beyond the log's {have} leaves")
        return have

    def inclusion_proof(
        self, index: int, size: int | None = None, *, checkpoint: SignedCheckpoint | None = None
    ) -> InclusionProof:
        """``PATH(index, D[size])`` (RFC 9162 §2.1.3.1): O(log n) node reads.

        With ``checkpoint`` the proof is against that checkpoint's tree and carries its note.
        """
        if checkpoint is not None:
            size = checkpoint.size
        with self.store.reader() as r:
            n = r.ledger_size() if size is None else size
            self._check_size(r, n)
            if not 0 <= index < n:
                raise LedgerError("bad_index", f"leaf index {index} is outside a tree of size {n}")
            leaf = r.ledger_leaves(index, index + 1)[0]
            *path, root = merkle.subtree_hashes(
                self.hasher, [*merkle.inclusion_proof_ranges(index, n), (0, n)], r.ledger_nodes
            )
        return InclusionProof(
            hash=self.hasher.name,
            origin=self.origin,
            leaf_index=index,
            tree_size=n,
            leaf_hash=self.hasher.hash_leaf(leaf),
            proof=tuple(path),
            root=root,
            leaf=leaf,
            checkpoint=checkpoint.note if checkpoint is not None else None,
        )

    def consistency_proof(
        self,
        size1: int,
        size2: int | None = None,
        *,
        checkpoint1: SignedCheckpoint | None = None,
        checkpoint2: SignedCheckpoint | None = None,
    ) -> ConsistencyProof:
        """``PROOF(size1, D[size2])`` (RFC 9162 §2.1.4.1): O(log n) node reads."""
        with self.store.reader() as r:
            n2 = r.ledger_size() if size2 is None else size2
            self._check_size(r, n2)
            if not 0 < size1 <= n2:
                raise LedgerError("bad_size", f"no consistency proof from size {size1} to {n2}")
            *path, root1, root2 = merkle.subtree_hashes(
                self.hasher,
                [*merkle.consistency_proof_ranges(size1, n2), (0, size1), (0, n2)],
                r.ledger_nodes,
            )
        return ConsistencyProof(
            hash=self.hasher.name,
            origin=self.origin,
            size1=size1,
            size2=n2,
            root1=root1,
            root2=root2,
            proof=tuple(path),
            checkpoint1=checkpoint1.note if checkpoint1 is not None else None,
            checkpoint2=checkpoint2.note if checkpoint2 is not None else None,
        )

    def iter_leaves(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        with self.store.reader() as r:
            yield from r.ledger_iter_leaves(start)


class TransparencyLog(LogReader):
    """An RFC 9162 log over a :class:`~bidkernel.store.base.Store`. Use :meth:`open`."""

    def __init__(
        self,
        store: Store,
        config: LogConfig,
        *,
        signer: NoteSigner | None,
        verifiers: Sequence[NoteVerifier] = (),
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        if config.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        super().__init__(store, config.origin, config.hasher)
        self.config = config
        self._signer = signer
        vs = list(verifiers)
        if signer is not None and not any(v.name == signer.name and v.key_id == signer.key_id for v in vs):
            vs.append(signer.verifier())
        self.verifiers: tuple[NoteVerifier, ...] = tuple(vs)
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: collections.deque[_Item] = collections.deque()
        self._cp_requests: list[concurrent.futures.Future[SignedCheckpoint]] = []
        self._stopping = False
        self._failed: BaseException | None = None
        self._size = 0
        self._frontier: list[bytes] = []
        self._last_cp: StoredCheckpoint | None = None
        self._cp_retry_at_ms = 0
        self._thread: threading.Thread | None = None
        self.commits = 0

    # ---------------------------------------------------------------------------------- open

    @classmethod
    def open(
        cls,
        store: Store,
        config: LogConfig,
        *,
        signer: NoteSigner | None,
        verifiers: Sequence[NoteVerifier] = (),
        clock: Callable[[], int] = _now_ms,
    ) -> TransparencyLog:
        """Open (or create) the log in ``store``, verify its stored state, start the committer.

        Raises :class:`LedgerStateError` if the stored state is inconsistent.
        """
        self = cls(store, config, signer=signer, verifiers=verifiers, clock=clock)
        try:
            self._load()
        except StoreError as exc:
            raise LedgerStateError("corrupt_store", str(exc)) from None
        self._thread = threading.Thread(target=self._run, name="ledger-committer", daemon=True)
        self._thread.start()
        return self

    def _meta(self) -> dict[str, str]:
        return {"origin": self.origin, "hash": self.hasher.name, "leaf_format": LEAF_FORMAT}

    def _load(self) -> None:
        with self.store.transaction() as tx:
            meta = tx.ledger_meta()
            if not meta:
                tx.ledger_init(self._meta())
                meta = self._meta()
        for key, want in self._meta().items():
            if meta.get(key) != want:
                raise LedgerStateError("wrong_log", f"the store holds a log with {key} {meta.get(key)!r}, not {want!r}")
        with self.store.reader() as r:
            size = r.ledger_size()
            if self.config.verify_on_open == "full":
                verify_stored_tree(self.hasher, r, size)
            try:
                self._frontier = self._read_frontier(r, size)
            except LookupError as exc:
                raise LedgerStateError("missing_node", f"stored tree is incomplete: {exc}") from None
            self._size = size
            self._last_cp = self._verify_stored_checkpoints(r, size)

    def _read_frontier(self, r: LedgerReads, size: int) -> list[bytes]:
        ids = merkle.frontier_ids(size)
        got = r.ledger_nodes(ids)
        missing = [nid for nid in ids if nid not in got]
        if missing:
            raise LookupError(f"node {missing[0]} missing from the store")
        return [got[nid] for nid in ids]

    def _verify_stored_checkpoints(self, r: LedgerReads, size: int) -> StoredCheckpoint | None:
        last: StoredCheckpoint | None = None
        for scp in r.ledger_checkpoints():
            where = f"checkpoint #{scp.seq} (size {scp.size})"
            try:
                opened = open_checkpoint(
                    scp.note, self.verifiers, origin=self.origin, digest_size=self.hasher.digest_size
                )
            except NoteError as exc:
                raise LedgerStateError("bad_checkpoint", f"{where}: {exc}") from None
            cp = opened.checkpoint
            if (cp.size, cp.root, cp.time_ms) != (scp.size, scp.root, scp.time_ms):
                raise LedgerStateError("bad_checkpoint", f"{where}: stored columns differ from its signed note")
            if scp.size > size:
                raise LedgerStateError("bad_checkpoint", f"{where} is beyond the stored tree of {size} leaves")
            try:
                root = merkle.root_from_nodes(self.hasher, scp.size, r.ledger_nodes)
            except LookupError as exc:
                raise LedgerStateError("missing_node", f"{where}: {exc}") from None
            if not hmac.compare_digest(root, scp.root):
                raise LedgerStateError(
                    "root_mismatch",
                    f"{where}: signed root {scp.root.hex()} but the stored tree gives {root.hex()}",
                )
            if last is not None and (scp.size < last.size or scp.time_ms < last.time_ms):
                raise LedgerStateError("bad_checkpoint", f"{where} goes back in size or time")
            last = scp
        return last

    # ---------------------------------------------------------------------------------- append

    def submit(self, event: Event, *, within: Within | None = None) -> concurrent.futures.Future[int]:
        """Queue ``event``; the future resolves to its index once durable (or to the error)."""
        if not isinstance(event, Event):
            raise TypeError("the ledger appends Event objects")
        item = _Item(event.encode(), within)
        with self._cond:
            self._check_running()
            self._pending.append(item)
            self._cond.notify_all()
        return item.future

    def submit_many(self, events: Iterable[Event]) -> list[concurrent.futures.Future[int]]:
        """Queue several events at once (they may share a batch)."""
        items = [_Item(e.encode(), None) for e in events]
        with self._cond:
            self._check_running()
            self._pending.extend(items)
            self._cond.notify_all()
        return [i.future for i in items]

    def append(self, event: Event, *, within: Within | None = None, timeout: float | None = None) -> int:
        """Append ``event`` and return its index once it is durable. Thread-safe; blocks."""
        return self.submit(event, within=within).result(timeout)

    async def append_async(self, event: Event, *, within: Within | None = None) -> int:
        """Append from asyncio: awaits durability without blocking the loop."""
        return await asyncio.wrap_future(self.submit(event, within=within))

    def _check_running(self) -> None:
        if self._failed is not None:
            raise LedgerClosedError("failed", f"the ledger committer stopped: {self._failed}")
        if self._stopping:
            raise LedgerClosedError("closed", "the ledger is closed")

    # ---------------------------------------------------------------------------------- committer

    def _due_in_ms(self) -> float | None:
        """Milliseconds until a time-based checkpoint is due (None: nothing to checkpoint)."""
        if self._signer is None or not self.config.checkpoint_every_ms:
            return None
        last_size = self._last_cp.size if self._last_cp else 0
        if self._size <= last_size:
            return None
        last_time = self._last_cp.time_ms if self._last_cp else 0
        due_at = max(last_time + self.config.checkpoint_every_ms, self._cp_retry_at_ms)
        return float(max(0, due_at - self._clock()))

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._cp_requests and not self._stopping:
                        due = self._due_in_ms()
                        if due is not None and due <= 0:
                            break
                        self._cond.wait(None if due is None else due / 1000)
                    if self._pending and self.config.max_delay_ms > 0 and len(self._pending) < self.config.max_batch:
                        deadline = time.monotonic() + self.config.max_delay_ms / 1000
                        while len(self._pending) < self.config.max_batch and not self._stopping:
                            left = deadline - time.monotonic()
                            if left <= 0:
                                break
                            self._cond.wait(left)
                    batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.config.max_batch))]
                    stop = self._stopping and not self._pending
                    # Served after this batch: every append that returned before a request was
                    # committed earlier, so requests never wait for (or starve behind) new appends.
                    requests, self._cp_requests = self._cp_requests, []
                if batch:
                    self._commit(batch)
                self._after_commit(requests)
                if stop:
                    return
        except BaseException as exc:  # pragma: no cover - defensive: never leave callers hanging
            log.exception("ledger committer failed")
            self._fail_all(exc)

    def _fail_all(self, exc: BaseException) -> None:
        with self._cond:
            self._failed = exc
            pending, self._pending = list(self._pending), collections.deque()
            requests, self._cp_requests = self._cp_requests, []
        err = LedgerClosedError("failed", f"the ledger committer stopped: {exc}")
        for item in pending:
            item.future.set_exception(err)
        for f in requests:
            f.set_exception(err)

    def _commit(self, batch: list[_Item]) -> None:
        accepted: list[_Item] = []
        stored: StoredCheckpoint | None = None
        try:
            with self.store.transaction() as tx:
                size = tx.ledger_size()
                frontier = self._frontier
                if size != self._size:  # another writer appended (multi-process / multi-node)
                    frontier = self._read_frontier(tx, size)
                for item in batch:
                    if item.within is not None:
                        try:
                            with tx.savepoint():
                                item.within(tx, size + len(accepted))
                        except Exception as exc:
                            item.future.set_exception(exc)
                            continue
                    accepted.append(item)
                leaf_hashes = [self.hasher.hash_leaf(i.leaf) for i in accepted]
                new_size, new_front, nodes = merkle.append_leaf_hashes(self.hasher, size, frontier, leaf_hashes)
                if accepted:
                    tx.ledger_append(size, [i.leaf for i in accepted], nodes)
                    if self.config.checkpoint_on_commit and self._signer is not None:
                        try:
                            with tx.savepoint():
                                stored = self._sign_in(tx)[1]
                        except Exception as exc:  # the batch commits; a receipt will ask for a checkpoint
                            log.error("checkpoint not signed in the commit: %s", exc)
                            stored = None
        except Exception as exc:
            log.error("ledger batch of %d failed: %s", len(batch), exc)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self._size, self._frontier = new_size, new_front
        if accepted and stored is not None:
            self._last_cp = stored
        self.commits += 1
        for i, item in enumerate(accepted):
            item.future.set_result(size + i)

    def _after_commit(self, requests: list[concurrent.futures.Future[SignedCheckpoint]]) -> None:
        due = bool(requests)
        if self._signer is not None and not due:
            last_size = self._last_cp.size if self._last_cp else 0
            n, t = self.config.checkpoint_every_n, self._due_in_ms()
            due = self._size > last_size and ((n > 0 and self._size - last_size >= n) or (t is not None and t <= 0))
        if not due:
            return
        try:
            scp = self._sign_checkpoint()
        except Exception as exc:
            log.error("checkpoint not signed: %s", exc)
            for f in requests:
                f.set_exception(exc)
            # Do not spin on a refused automatic checkpoint: retry after one interval.
            self._cp_retry_at_ms = self._clock() + max(self.config.checkpoint_every_ms, 100)
            return
        for f in requests:
            f.set_result(scp)

    def _sign_checkpoint(self) -> SignedCheckpoint:
        if self._signer is None:
            raise CheckpointError("no_signer", "this log has no signer")
        with self.store.transaction() as tx:
            scp, stored = self._sign_in(tx)
        if stored is not None:
            self._last_cp = stored
        return scp

    def _sign_in(self, tx: Transaction) -> tuple[SignedCheckpoint, StoredCheckpoint | None]:
        """Sign (and store, in ``tx``) a checkpoint of the tree as ``tx`` sees it, after proving it
        consistent with the last stored one. ``None`` stored: the last one already covers the tree."""
        assert self._signer is not None
        size = tx.ledger_size()
        frontier = self._read_frontier(tx, size)
        root = merkle.root_from_frontier(self.hasher, frontier)
        last = tx.ledger_latest_checkpoint()
        now = self._clock()
        if last is not None:
            if size < last.size:
                raise CheckpointError("rollback", f"tree of {size} is smaller than signed size {last.size}")
            if now < last.time_ms:
                raise CheckpointError("clock_back", f"clock {now} is before the last checkpoint {last.time_ms}")
            if size == last.size:
                if not hmac.compare_digest(root, last.root):
                    raise CheckpointError("inconsistent", f"same size {size} but a different root")
                self._last_cp = last
                return SignedCheckpoint(Checkpoint(self.origin, last.size, last.root, last.time_ms), last.note), None
            if last.size > 0:
                try:
                    proof = merkle.consistency_proof(self.hasher, last.size, size, tx.ledger_nodes)
                    merkle.verify_consistency(self.hasher, last.size, size, last.root, root, proof)
                except (ProofError, LookupError) as exc:
                    raise CheckpointError(
                        "inconsistent",
                        f"tree of {size} is not consistent with checkpoint {last.size}: {exc}",
                    ) from None
        scp = sign_checkpoint(Checkpoint(self.origin, size, root, now), [self._signer])
        stored = tx.ledger_add_checkpoint(size, root, now, scp.note)
        return scp, stored

    # ---------------------------------------------------------------------------------- checkpoints

    def checkpoint(self, *, timeout: float | None = None) -> SignedCheckpoint:
        """A signed checkpoint covering every append that returned before this call (on demand).

        If nothing was appended since the last checkpoint, that checkpoint is returned.
        """
        f: concurrent.futures.Future[SignedCheckpoint] = concurrent.futures.Future()
        with self._cond:
            self._check_running()
            self._cp_requests.append(f)
            self._cond.notify_all()
        return f.result(timeout)

    @property
    def size(self) -> int:
        """Leaves committed (as known to this process)."""
        return self._size

    def checkpoint_covering(self, index: int, *, timeout: float | None = None) -> SignedCheckpoint:
        """The latest checkpoint if it covers ``index``, else a fresh one (for receipts)."""
        cp = self.latest_checkpoint()
        if cp is not None and cp.size > index:
            return cp
        cp = self.checkpoint(timeout=timeout)
        if cp.size <= index:
            raise LedgerError("not_appended", f"index {index} is not in the log")
        return cp

    # ---------------------------------------------------------------------------------- lifecycle

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit what is queued, stop the committer. Idempotent."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def __enter__(self) -> TransparencyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TransparencyLog({self.origin!r}, hash={self.hasher.name}, size={self._size})"


def verify_stored_tree(hasher: merkle.TreeHasher, r: LedgerReads, size: int) -> None:
    """Recompute every leaf hash and perfect node from the leaf bytes and compare with the store.

    Level 0 is recomputed from the leaf bytes (``HASH(0x00 || leaf)``), level L+1 from the already
    checked level L (``HASH(0x01 || left || right)``), RFC 9162 §2.1.1. Streaming: O(n) hashing,
    O(chunk) memory. Raises :class:`LedgerStateError` at the first difference.
    """
    level, count = 0, size
    expected: Iterator[bytes] = (hasher.hash_leaf(leaf) for _, leaf in _checked_leaves(r, size))
    while True:
        seen = 0
        for idx, h in r.ledger_iter_nodes(level):
            if idx != seen:
                raise LedgerStateError("missing_node", f"node ({level}, {seen}) is missing")
            if seen >= count:
                raise LedgerStateError("extra_node", f"node ({level}, {idx}) lies beyond the tree of {size}")
            want = next(expected)
            if not hmac.compare_digest(h, want):
                raise LedgerStateError(
                    "node_mismatch",
                    f"stored node ({level}, {idx}) differs from the one recomputed from the leaves",
                )
            seen += 1
        if seen != count:
            raise LedgerStateError("missing_node", f"level {level} has {seen} nodes, expected {count}")
        if count == 0:
            return
        expected = _pairs(hasher, r.ledger_iter_nodes(level))
        level += 1
        count //= 2


def _pairs(hasher: merkle.TreeHasher, nodes: Iterator[tuple[int, bytes]]) -> Iterator[bytes]:
    for (_, left), (_, right) in zip(nodes, nodes, strict=False):
        yield hasher.hash_children(left, right)


def _checked_leaves(r: LedgerReads, size: int) -> Iterator[tuple[int, bytes]]:
    expect = 0
    for idx, leaf in r.ledger_iter_leaves(0):
        if idx != expect:
            raise LedgerStateError("missing_leaf", f"leaf {expect} is missing")
        expect += 1
        yield idx, leaf
    if expect != size:  # pragma: no cover - size is MAX(idx)+1, so a gap is caught above
        raise LedgerStateError("missing_leaf", f"{expect} leaves, expected {size}")


__all__ = [
    "LogConfig",
    "StoreError",
    "TransparencyLog",
    "Within",
    "verify_stored_tree",
]
