"""The log over a real SQLite file: group commit, checkpoints, proofs, refusal to open or sign."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_helpers import ORIGIN, ev

from bidkernel.ledger import merkle
from bidkernel.ledger.checkpoint import (
    Checkpoint,
    Ed25519NoteSigner,
    open_checkpoint,
    sign_checkpoint,
)
from bidkernel.ledger.errors import CheckpointError, LedgerClosedError, LedgerError, LedgerStateError
from bidkernel.ledger.events import decode_leaf
from bidkernel.ledger.log import TransparencyLog
from bidkernel.ledger.proofs import ConsistencyProof, InclusionProof
from bidkernel.store.base import Transaction

Open = Callable[..., TransparencyLog]
H = merkle.SM3


def raw(db: Path) -> sqlite3.Connection:
    """A raw connection for tampering (tests only), with the append-only triggers dropped."""
    c = sqlite3.connect(db, isolation_level=None)
    for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        c.execute(f"DROP TRIGGER {name}")
    return c


def test_append_returns_consecutive_indices_and_the_leaves_are_stored(open_log: Open) -> None:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    idx = [lg.append(ev(i)) for i in range(20)]
    assert idx == list(range(20))
    assert [decode_leaf(lg.leaf(i)) for i in range(20)] == [ev(i) for i in range(20)]
    assert lg.root() == merkle.root_of_leaf_hashes(H, [H.hash_leaf(ev(i).encode()) for i in range(20)])


def test_group_commit_shares_transactions_between_threads(open_log: Open) -> None:
    lg = open_log(max_delay_ms=2, checkpoint_every_n=0, checkpoint_every_ms=0)
    results: list[int] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(25):
            r = lg.append(ev(t * 1000 + i))
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(200))
    assert lg.commits < 200 / 2, f"{lg.commits} commits for 200 appends: no group commit"


def test_batch_size_bounds_the_transaction(open_log: Open) -> None:
    lg = open_log(max_batch=1, checkpoint_every_n=0, checkpoint_every_ms=0)
    futs = lg.submit_many([ev(i) for i in range(30)])
    assert [f.result(10) for f in futs] == list(range(30))
    assert lg.commits == 30
    lg2 = open_log(path=Path(str(lg.store.path) + ".2"), max_batch=64, checkpoint_every_n=0, checkpoint_every_ms=0)
    futs = lg2.submit_many([ev(i) for i in range(200)])
    assert [f.result(10) for f in futs] == list(range(200))
    assert 4 <= lg2.commits <= 200 // 2


def test_asyncio_callers(open_log: Open) -> None:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)

    async def main() -> list[int]:
        return await asyncio.gather(*(lg.append_async(ev(i)) for i in range(100)))

    got = asyncio.run(main())
    assert sorted(got) == list(range(100))
    assert lg.commits < 100


def test_failing_within_callback_leaves_nothing_and_the_rest_commits(open_log: Open) -> None:
    lg = open_log(max_delay_ms=20, checkpoint_every_n=0, checkpoint_every_ms=0)
    seen: list[int] = []

    def ok(tx: Transaction, index: int) -> None:
        assert tx.ledger_size() == 0  # inside the batch transaction, before the leaves are written
        seen.append(index)

    def bad(tx: Transaction, index: int) -> None:
        raise RuntimeError("bid row refused")

    f1 = lg.submit(ev(1), within=ok)
    f2 = lg.submit(ev(2), within=bad)
    f3 = lg.submit(ev(3), within=ok)
    assert f1.result(10) == 0
    with pytest.raises(RuntimeError, match="bid row refused"):
        f2.result(10)
    assert f3.result(10) == 1
    assert seen == [0, 1]
    assert lg.commits == 1
    assert decode_leaf(lg.leaf(1)) == ev(3)
    with pytest.raises(LedgerError):
        lg.leaf(2)


def test_checkpoints_every_n_are_consistent(open_log: Open, signer: Ed25519NoteSigner) -> None:
    lg = open_log(checkpoint_every_n=10, checkpoint_every_ms=0, max_batch=4)
    for i in range(45):
        lg.append(ev(i))
    lg.close()
    with lg.store.reader() as r:
        cps = r.ledger_checkpoints()
    assert [c.size for c in cps] == [10, 20, 30, 40]  # one append per batch: signed every 10
    for a, b in itertools.pairwise(cps):
        p = lg.consistency_proof(a.size, b.size)
        merkle.verify_consistency(H, a.size, b.size, a.root, b.root, list(p.proof))
    for c in cps:
        open_checkpoint(c.note, [signer.verifier()], origin=ORIGIN)


def test_checkpoint_every_t_ms(open_log: Open) -> None:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=50)
    lg.append(ev(0))
    deadline = time.monotonic() + 5
    while (cp := lg.latest_checkpoint()) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cp is not None and cp.size == 1
    lg.append(ev(1))
    while (cp := lg.latest_checkpoint()) is not None and cp.size < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cp is not None and cp.size == 2


def test_on_demand_checkpoint_and_proofs(open_log: Open, signer: Ed25519NoteSigner) -> None:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    for i in range(37):
        lg.append(ev(i))
    cp = lg.checkpoint()
    assert cp.size == 37
    assert lg.checkpoint() == cp  # nothing new: the same checkpoint
    assert lg.checkpoint_covering(36) == cp
    v = [signer.verifier()]
    p = lg.inclusion_proof(17, checkpoint=cp)
    assert InclusionProof.from_json(p.to_json()) == p
    assert p.verify(v) == cp
    old = lg.root(20)
    lg.append(ev(99))
    cp2 = lg.checkpoint()
    c = lg.consistency_proof(37, checkpoint1=cp, checkpoint2=cp2)
    assert ConsistencyProof.from_json(c.to_json()) == c
    c.verify(v)
    c20 = lg.consistency_proof(20)
    assert c20.root1 == old and c20.size2 == 38
    c20.verify()
    with pytest.raises(LedgerError):
        lg.inclusion_proof(38, 38)
    with pytest.raises(LedgerError):
        lg.consistency_proof(3, 39)


def test_never_signs_a_checkpoint_inconsistent_with_an_earlier_one(open_log: Open, signer: Ed25519NoteSigner) -> None:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    for i in range(5):
        lg.append(ev(i))
    # A checkpoint of size 3 with a root that is not this tree's, signed by the same key
    # (as if an earlier run had forked the log), lands in the store.
    forged = sign_checkpoint(Checkpoint(ORIGIN, 3, b"\x42" * 32, 1), [signer])
    with lg.store.transaction() as tx:
        tx.ledger_add_checkpoint(3, forged.root, 1, forged.note)
    with pytest.raises(CheckpointError) as e:
        lg.checkpoint()
    assert e.value.code == "inconsistent"
    with lg.store.reader() as r:
        assert [c.size for c in r.ledger_checkpoints()] == [3]  # nothing new was signed


def test_refuses_to_sign_when_the_clock_went_back(open_log: Open) -> None:
    now = [2_000_000]
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0, clock=lambda: now[0])
    lg.append(ev(0))
    lg.checkpoint()
    lg.append(ev(1))
    now[0] -= 1
    with pytest.raises(CheckpointError) as e:
        lg.checkpoint()
    assert e.value.code == "clock_back"


def test_close_flushes_and_then_refuses(open_log: Open) -> None:
    lg = open_log(max_delay_ms=50, checkpoint_every_n=0, checkpoint_every_ms=0)
    futs = lg.submit_many([ev(i) for i in range(10)])
    lg.close()
    assert [f.result(1) for f in futs] == list(range(10))
    with pytest.raises(LedgerClosedError):
        lg.append(ev(11))


def test_reopen_keeps_everything(open_log: Open, signer: Ed25519NoteSigner) -> None:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    for i in range(50):
        lg.append(ev(i))
    cp = lg.checkpoint()
    lg.close()
    lg.store.close()
    lg2 = open_log()
    assert lg2.size == 50
    assert lg2.latest_checkpoint() == cp
    assert lg2.append(ev(50)) == 50


def test_two_writers_on_one_file_interleave_safely(open_log: Open, db: Path) -> None:
    a = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    b = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    got = []
    for i in range(20):
        got.append((a if i % 3 else b).append(ev(i)))
    assert sorted(got) == list(range(20))
    a.close()
    b.close()
    c = open_log()  # full verification on open passes
    assert c.size == 20


# ---- refusal to open ----------------------------------------------------------------------------


def _filled(open_log: Open, n: int = 40) -> TransparencyLog:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    for i in range(n):
        lg.append(ev(i))
    lg.checkpoint()
    lg.close()
    lg.store.close()
    return lg


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ("UPDATE ledger_leaves SET leaf = CAST(leaf || x'20' AS BLOB) WHERE idx = 7", "node_mismatch"),
        ("UPDATE ledger_leaves SET leaf = 'text' WHERE idx = 7", "corrupt_store"),
        ("UPDATE ledger_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 3", "node_mismatch"),
        ("DELETE FROM ledger_nodes WHERE level = 3 AND idx = 0", "missing_node"),
        ("INSERT INTO ledger_nodes VALUES (0, 40, zeroblob(32))", "extra_node"),
        ("DELETE FROM ledger_leaves WHERE idx = 39", "extra_node"),
        ("UPDATE ledger_checkpoints SET root = zeroblob(32)", "bad_checkpoint"),
        ("UPDATE ledger_checkpoints SET note = replace(note, '40', '41')", "bad_checkpoint"),
    ],
)
def test_refuses_to_open_an_inconsistent_store(open_log: Open, db: Path, tamper: str, code: str) -> None:
    _filled(open_log)
    raw(db).execute(tamper)
    with pytest.raises(LedgerStateError) as e:
        open_log()
    assert e.value.code == code, e.value


def test_checkpoint_mode_still_checks_checkpoint_roots(open_log: Open, db: Path) -> None:
    _filled(open_log)
    raw(db).execute("UPDATE ledger_nodes SET hash = zeroblob(32) WHERE level = 5 AND idx = 0")
    with pytest.raises(LedgerStateError) as e:
        open_log(verify_on_open="checkpoints")
    assert e.value.code == "root_mismatch"


def test_refuses_unknown_checkpoint_signer_and_wrong_log(open_log: Open) -> None:
    _filled(open_log)
    with pytest.raises(LedgerStateError) as e:
        open_log(signer=Ed25519NoteSigner.generate(ORIGIN))
    assert e.value.code == "bad_checkpoint"
    with pytest.raises(LedgerStateError) as e:
        open_log(origin="other.example/log")
    assert e.value.code == "wrong_log"
    with pytest.raises(LedgerStateError) as e:
        open_log(hasher=merkle.SHA256)
    assert e.value.code == "wrong_log"


def test_rejected_batch_fails_its_callers_and_keeps_state(open_log: Open, db: Path) -> None:
    lg = open_log(checkpoint_every_n=0, checkpoint_every_ms=0)
    lg.append(ev(0))
    # Another process holds the write lock past the busy timeout: the batch fails, nothing is lost.
    lg.store._timeout = 0.05  # type: ignore[attr-defined]
    lg.store._writer.execute("PRAGMA busy_timeout=50")  # type: ignore[attr-defined]
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(Exception, match=r"locked|begin"):
        lg.append(ev(1), timeout=10)
    blocker.execute("ROLLBACK")
    assert lg.append(ev(2)) == 1
    assert decode_leaf(lg.leaf(1)) == ev(2)


def test_on_demand_checkpoint_is_not_starved_by_a_stream_of_appends(open_log: Open) -> None:
    lg = open_log(max_batch=8, checkpoint_every_n=0, checkpoint_every_ms=0)
    for i in range(5):
        lg.append(ev(i))
    stop = threading.Event()

    def stream() -> None:
        i = 100
        while not stop.is_set():
            lg.submit_many([ev(i + k) for k in range(16)])
            i += 16
            time.sleep(0.001)

    t = threading.Thread(target=stream)
    t.start()
    try:
        time.sleep(0.05)
        cp = lg.checkpoint(timeout=10)
    finally:
        stop.set()
        t.join()
    assert cp.size >= 5
