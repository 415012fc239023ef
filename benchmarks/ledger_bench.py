"""Ledger throughput, measured next to the raw fsync rate of the same directory in the same run.

Used by benchmarks/test_bench_ledger.py (pytest-benchmark) and runnable on its own to print the
table of docs/performance.md ("Ledger"):

    python benchmarks/ledger_bench.py [--dir DIR] [--quick]

Figures: raw durable writes/s (4 KiB append + fsync; 4 KiB overwrite + fdatasync), durable
appends/s through the group-committing log at max batch 1, 64 and 1024 (all appends submitted at
once, and from 32 blocking threads), and inclusion / consistency proofs generated and verified per
second on a log of 2**15 leaves.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
from pathlib import Path

from bidkernel.ledger import merkle
from bidkernel.ledger.checkpoint import Ed25519NoteSigner
from bidkernel.ledger.events import Event
from bidkernel.ledger.log import LogConfig, TransparencyLog
from bidkernel.store.sqlite import SQLiteStore

ORIGIN = "bench.bidkernel.example/ledger"


def event(i: int) -> Event:
    return Event(
        "bid.received",
        1_795_000_000_000 + i,
        {"tender_id": f"T-{i % 40}", "bid_id": f"B-{i}", "ciphertext_sm3": "ab" * 32, "size": 10_000_000},
    )


def fsync_rate(directory: Path, count: int = 300, *, overwrite: bool = False) -> float:
    """Durable 4 KiB writes per second in ``directory``.

    Default: append 4 KiB then ``fsync`` (the file grows, so each sync also commits metadata; the
    DESIGN.md anchor). ``overwrite=True``: rewrite the same 4 KiB block then ``fdatasync`` — what
    SQLite's reused WAL costs at best (no size change, no metadata to journal).
    """
    path = directory / "fsync.probe"
    block = os.urandom(4096)
    flags = os.O_WRONLY | os.O_CREAT | (0 if overwrite else os.O_APPEND)
    fd = os.open(path, flags, 0o600)
    try:
        if overwrite:
            os.pwrite(fd, block, 0)
            os.fsync(fd)
        t0 = time.perf_counter()
        for _ in range(count):
            if overwrite:
                os.pwrite(fd, block, 0)
                os.fdatasync(fd)
            else:
                os.write(fd, block)
                os.fsync(fd)
        dt = time.perf_counter() - t0
    finally:
        os.close(fd)
        path.unlink()
    return count / dt


def open_log(db: Path, max_batch: int) -> TransparencyLog:
    return TransparencyLog.open(
        SQLiteStore(db),
        LogConfig(ORIGIN, max_batch=max_batch, checkpoint_every_n=0, checkpoint_every_ms=0),
        signer=Ed25519NoteSigner.generate(ORIGIN),
    )


def close_log(lg: TransparencyLog) -> None:
    lg.close()
    lg.store.close()


def append_burst(lg: TransparencyLog, n: int, start: int = 0) -> float:
    """Submit ``n`` appends at once and wait until all are durable; returns appends/s."""
    events = [event(start + i) for i in range(n)]
    t0 = time.perf_counter()
    futs = lg.submit_many(events)
    for f in futs:
        f.result()
    return n / (time.perf_counter() - t0)


def append_threads(lg: TransparencyLog, n: int, threads: int = 32, start: int = 0) -> float:
    """``threads`` callers each appending (blocking) until ``n`` appends are durable; appends/s."""
    per = max(1, n // threads)
    go = threading.Barrier(threads + 1)

    def work(t: int) -> None:
        go.wait()
        for i in range(per):
            lg.append(event(start + t * per + i))

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return per * threads / (time.perf_counter() - t0)


def build_log(db: Path, size: int) -> TransparencyLog:
    lg = open_log(db, 4096)
    done = 0
    while done < size:
        k = min(4096, size - done)
        append_burst(lg, k, done)
        done += k
    return lg


def proof_rates(lg: TransparencyLog, count: int, seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    n = lg.size
    h = lg.hasher
    idx = [rng.randrange(n) for _ in range(count)]
    olds = [rng.randrange(1, n) for _ in range(count)]
    t0 = time.perf_counter()
    incl = [lg.inclusion_proof(i, n) for i in idx]
    t1 = time.perf_counter()
    for p in incl:
        merkle.verify_inclusion(h, p.leaf_index, p.tree_size, p.leaf_hash, p.proof, p.root)
    t2 = time.perf_counter()
    cons = [lg.consistency_proof(m, n) for m in olds]
    t3 = time.perf_counter()
    for c in cons:
        merkle.verify_consistency(h, c.size1, c.size2, c.root1, c.root2, c.proof)
    t4 = time.perf_counter()
    return {
        "inclusion proofs generated/s": count / (t1 - t0),
        "inclusion proofs verified/s": count / (t2 - t1),
        "consistency proofs generated/s": count / (t3 - t2),
        "consistency proofs verified/s": count / (t4 - t3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, help="where the databases go (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="smaller counts")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        base = Path(d)
        q = 4 if a.quick else 1
        rows: list[tuple[str, float]] = [
            ("raw: 4 KiB append + fsync", fsync_rate(base, 300 // q)),
            ("raw: 4 KiB overwrite + fdatasync", fsync_rate(base, 300 // q, overwrite=True)),
        ]
        for batch, n in ((1, 300 // q), (64, 4096 // q), (1024, 16384 // q)):
            lg = open_log(base / f"b{batch}.db", batch)
            rate = append_burst(lg, n)
            rows.append((f"appends/s, max batch {batch}, burst of {n} (commits: {lg.commits})", rate))
            c0 = lg.commits
            rate = append_threads(lg, min(n, 2048), 32, start=n)
            rows.append((f"appends/s, max batch {batch}, 32 threads (commits: {lg.commits - c0})", rate))
            close_log(lg)
        rows.append(("raw: 4 KiB append + fsync, again after the appends", fsync_rate(base, 300 // q)))
        rows.append(("raw: 4 KiB overwrite + fdatasync, again", fsync_rate(base, 300 // q, overwrite=True)))
        lg = build_log(base / "proofs.db", 1 << 15)
        for k, v in proof_rates(lg, 2000 // q).items():
            rows.append((f"{k} (tree of {lg.size})", v))
        signer, size = lg._signer, lg.size
        lg.checkpoint()
        close_log(lg)
        for mode in ("full", "checkpoints"):
            t0 = time.perf_counter()
            lg = TransparencyLog.open(
                SQLiteStore(base / "proofs.db"), LogConfig(ORIGIN, verify_on_open=mode), signer=signer
            )
            rows.append((f"leaves/s verified on open, verify_on_open={mode!r}", size / (time.perf_counter() - t0)))
            close_log(lg)
    print("| measure | per second |\n|---|---:|")
    for k, v in rows:
        print(f"| {k} | {v:,.0f} |")


if __name__ == "__main__":
    main()
