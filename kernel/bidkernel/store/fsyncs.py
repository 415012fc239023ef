"""How many fsyncs the kernel asked for, by kind, for ``/metrics`` (``bidkernel_fsync_total{kind}``).

``blob_file``: a blob's temporary file before its rename; ``blob_dir``: a directory after a rename into
it; ``sqlite_commit``: a committed write transaction of the kernel store (WAL at ``synchronous=FULL``
fsyncs the WAL once per commit; WAL checkpoints add fsyncs of their own that SQLite does not report).
Process-wide counters: a load test reads them to relate throughput to the disk's fsync rate.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_counts: dict[str, int] = {"blob_file": 0, "blob_dir": 0, "sqlite_commit": 0}


def count(kind: str) -> None:
    with _lock:
        _counts[kind] = _counts.get(kind, 0) + 1


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)
