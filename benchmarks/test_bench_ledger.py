"""Ledger benchmarks (pytest-benchmark), each group anchored by the raw fsync rate of the same disk.

Run:   python -m pytest benchmarks/test_bench_ledger.py --benchmark-enable
Smoke: python -m pytest benchmarks --benchmark-disable   (CI: every body runs once)
Table for docs/performance.md: python benchmarks/ledger_bench.py
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: reach ledger_bench.py

from ledger_bench import (
    append_burst,
    build_log,
    close_log,
    event,
    fsync_rate,
    open_log,
)

from bidkernel.ledger import merkle
from bidkernel.ledger.log import TransparencyLog

PROOF_TREE = int(os.environ.get("BIDKERNEL_BENCH_TREE", str(1 << 14)))


@pytest.mark.parametrize("mode", ["append+fsync", "overwrite+fdatasync"])
def test_raw_fsync_anchor(benchmark: Any, tmp_path: Path, mode: str) -> None:
    """The disk's raw rate, one durable 4 KiB write per round (ops/s = syncs/s).

    ``append+fsync`` grows the file (metadata journaled each time); ``overwrite+fdatasync`` rewrites
    one block, as SQLite's reused WAL does at best.
    """
    benchmark.group = "ledger append (ops = appends; compare with raw fsync)"
    overwrite = mode.startswith("overwrite")
    fd = os.open(tmp_path / "probe", os.O_WRONLY | os.O_CREAT | (0 if overwrite else os.O_APPEND), 0o600)
    block = os.urandom(4096)

    def one() -> None:
        if overwrite:
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
        else:
            os.write(fd, block)
            os.fsync(fd)

    try:
        benchmark.pedantic(one, rounds=200, iterations=1, warmup_rounds=5)
    finally:
        os.close(fd)


@pytest.mark.parametrize("batch", [1, 64, 1024])
def test_append_group_commit(benchmark: Any, tmp_path: Path, batch: int) -> None:
    """One round = ``batch`` appends submitted together and awaited durable (one commit at best).

    ops/s x batch = appends/s; extra_info has appends/s directly and the commits made.
    """
    benchmark.group = "ledger append (ops = appends; compare with raw fsync)"
    lg = open_log(tmp_path / "b.db", batch)
    counter = iter(range(10**9))

    def one_round() -> None:
        start = next(counter) * batch
        for f in lg.submit_many([event(start + i) for i in range(batch)]):
            f.result()

    try:
        rounds = {1: 100, 64: 20, 1024: 5}[batch]
        benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=1)
        assert lg.size >= batch
        burst = append_burst(lg, batch * 4, start=lg.size)
        benchmark.extra_info["appends_per_s_burst"] = round(burst)
        benchmark.extra_info["commits"] = lg.commits
        benchmark.extra_info["fsync_per_s_same_run"] = round(fsync_rate(tmp_path, 100))
    finally:
        close_log(lg)


@pytest.fixture(scope="module")
def proof_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TransparencyLog]:
    lg = build_log(tmp_path_factory.mktemp("proofs") / "p.db", PROOF_TREE)
    yield lg
    close_log(lg)


def test_inclusion_proof_generate(benchmark: Any, proof_log: TransparencyLog) -> None:
    benchmark.group = "ledger proofs"
    n = proof_log.size
    p = benchmark(proof_log.inclusion_proof, n // 3, n)
    assert len(p.proof) == (n - 1).bit_length()


def test_inclusion_proof_verify(benchmark: Any, proof_log: TransparencyLog) -> None:
    benchmark.group = "ledger proofs"
    n = proof_log.size
    p = proof_log.inclusion_proof(n // 3, n)
    h = proof_log.hasher
    benchmark(merkle.verify_inclusion, h, p.leaf_index, p.tree_size, p.leaf_hash, p.proof, p.root)


def test_consistency_proof_generate(benchmark: Any, proof_log: TransparencyLog) -> None:
    benchmark.group = "ledger proofs"
    n = proof_log.size
    c = benchmark(proof_log.consistency_proof, n // 3 + 1, n)
    assert c.proof


def test_consistency_proof_verify(benchmark: Any, proof_log: TransparencyLog) -> None:
    benchmark.group = "ledger proofs"
    n = proof_log.size
    c = proof_log.consistency_proof(n // 3 + 1, n)
    h = proof_log.hasher
    benchmark(merkle.verify_consistency, h, c.size1, c.size2, c.root1, c.root2, c.proof)
