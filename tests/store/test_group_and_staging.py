"""Group writes, the shared directory fsync, and blob staging with start-up recovery (issue 7 intake
durability): one write serves every caller waiting when it starts; a staged blob that a committed bid
references survives a stop before placement and is moved into place at start-up; anything else goes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from bidkernel.crypto.sm3 import sm3
from bidkernel.store.blobs import BlobStore, GroupFsync
from bidkernel.store.group import GroupWriter


def test_group_writer_batches_waiting_callers() -> None:
    first_started, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> None:
        batches.append(list(items))
        if len(batches) == 1:
            first_started.set()
            assert release.wait(10)

    g: GroupWriter[int] = GroupWriter(write)
    t0 = threading.Thread(target=g.submit, args=(0,))
    t0.start()
    assert first_started.wait(10)
    rest = [threading.Thread(target=g.submit, args=(i,)) for i in range(1, 9)]
    for t in rest:
        t.start()
    while len(g._pending) < 8:  # all eight queued behind the running write
        threading.Event().wait(0.001)
    release.set()
    for t in [t0, *rest]:
        t.join(10)
    assert batches == [[0], list(range(1, 9))]  # two writes for nine callers
    assert g.batches == 2


def test_group_writer_hands_errors_to_the_batch() -> None:
    def write(items: Sequence[str]) -> None:
        raise RuntimeError("disk full")

    g: GroupWriter[str] = GroupWriter(write)
    with pytest.raises(RuntimeError, match="disk full"):
        g.submit("x")
    assert g._running is False  # the next caller can write again


def test_group_fsync_counts(tmp_path: Path) -> None:
    g = GroupFsync(tmp_path)
    g.sync()
    g.sync()
    assert g.fsyncs == 2  # sequential callers each need their own (an fsync that started after them)


def _staged(store: BlobStore, data: bytes) -> str:
    up = store.upload(1 << 20)
    up.write(data)
    store.make_durable([up])
    return up.digest().hex()


def test_staged_blob_recovered_or_dropped_at_start_up(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    kept, dropped = _staged(store, b"committed bid envelope"), _staged(store, b"never committed")
    assert kept == sm3(b"committed bid envelope").hex()
    assert not store.exists(kept)  # staged, not placed: the machine stopped here
    partial = store.upload(100)
    partial.write(b"half an upload")  # a .part file from an interrupted stream
    store2 = BlobStore(tmp_path / "blobs")  # start-up
    tmp_removed, orphans = store2.sweep({kept})
    assert store2.exists(kept) and store2.path(kept).read_bytes() == b"committed bid envelope"
    assert not store2.exists(dropped)
    assert list(store2.tmp_dir.iterdir()) == []
    assert (tmp_removed, orphans) == (2, 0)


def test_place_dedupes_and_flushes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", flush_interval_s=3600)
    ups = []
    for _ in range(2):  # two bids carrying the same envelope bytes
        up = store.upload(1 << 20)
        up.write(b"same")
        store.make_durable([up])
        ups.append(up)
    store.place(ups)
    h = sm3(b"same").hex()
    assert store.path(h).read_bytes() == b"same" and list(store.tmp_dir.iterdir()) == []
    assert store._dirty  # directory fsyncs are batched ...
    store.close()
    assert not store._dirty  # ... and done at the latest on close
