"""Plugin event delivery (docs/performance.md "## Plugin delivery (issue 9)").

1. Outbox delivery rate: N outbox events delivered by :class:`Deliverer` to no-op plugins (one sync, one
   async, four sync), next to same-run anchors on the same disk: fsync/s of 4 KiB appends, fdatasync/s of a
   4 KiB overwrite (what a commit into an already-grown WAL costs at best) and small SQLite write transactions/s
   on a fresh store (``synchronous=FULL``, the store's own ``transaction()``) — each delivered event costs one
   transaction for its delivery record.
2. Intake with plugins: one client submitting sealed 4 KiB bids over signed HTTP to an in-process kernel with
   (a) no plugin, (b) a no-op plugin, (c) a plugin whose hook takes 200 ms per event (slow) — the receipt's
   latency must not follow the plugin's (delivery runs off the request path).

    python benchmarks/plugin_delivery_bench.py --dir /path/on/the/disk [--events 2000] [--bids 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import orjson
from ledger_bench import fsync_rate

from bidkernel.hookspecs import hookimpl
from bidkernel.platform import Platform
from bidkernel.plugins import OutboxEvent, PluginKernel
from bidkernel.plugins.delivery import Deliverer, DeliveryPolicy
from bidkernel.plugins.host import PluginHost
from bidkernel.testing import start_kernel


class SyncNoop:
    @hookimpl
    def bidkernel_bid_received(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        pass


class AsyncNoop:
    @hookimpl
    async def bidkernel_bid_received(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        pass


class Slow:
    @hookimpl
    def bidkernel_bid_received(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        time.sleep(0.2)


def tx_rate(p: Platform, n: int = 1000) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        with p.store.transaction() as tx:
            tx.plugin_kv_put("bench", "k", str(i).encode())
    return n / (time.perf_counter() - t0)


def delivery_rate(d: Path, plugins: list[tuple[str, object]], events: int) -> float:
    p = Platform.open(d)
    try:
        with p.store.transaction() as tx:
            for i in range(events):
                tx.outbox_add("bid.received", f"bid.received/b-{i}", orjson.dumps({"tender_id": "t", "bid_id": i}), 1)
        host = PluginHost(data=p.data, env={})
        for name, obj in plugins:
            host.register(obj, name)
        host.attach(p)
        deliverer = Deliverer(p, host, policy=DeliveryPolicy(batch=500))

        async def drain() -> None:
            while await deliverer.deliver_once():
                pass

        t0 = time.perf_counter()
        asyncio.run(drain())
        dt = time.perf_counter() - t0
        with p.store.reader() as r:
            assert not r.outbox_pending(1)
        return events / dt
    finally:
        p.close()


def intake_latency(d: Path, plugins: list[tuple[str, object]], bids: int) -> tuple[float, float, float, int]:
    k = start_kernel(d, plugins=plugins, delivery=DeliveryPolicy(timeout_s=30, poll_s=0.02))
    try:
        t = k.tender(seconds=3600)
        pkgs = [k.seal(f"bidder-{i}", t["id"], size=4096) for i in range(bids)]
        clients = [k.client(f"bidder-{i}") for i in range(bids)]
        lat = []
        for c, pkg in zip(clients, pkgs, strict=True):
            t0 = time.perf_counter()
            c.submit(t["id"], pkg)
            lat.append((time.perf_counter() - t0) * 1000)
        pending = k.pending()
        lat.sort()
        return statistics.median(lat), lat[int(0.9 * len(lat)) - 1], lat[-1], pending
    finally:
        k.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--bids", type=int, default=60)
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(dir=a.dir, prefix="plugin-bench-"))
    fs0 = fsync_rate(base)
    ow = fsync_rate(base, overwrite=True)
    p = Platform.open(base / "anchor")
    tx = tx_rate(p)
    p.close()
    print(
        f"anchors: fsync (append) {fs0:.0f}/s, fdatasync (overwrite, a warm WAL's best case) {ow:.0f}/s, "
        f"small SQLite write transactions on a fresh store {tx:.0f}/s"
    )
    print("| plugins | events | events/s | vs overwrite fdatasync/s |")
    print("|---|---|---|---|")
    cases: list[tuple[str, list[tuple[str, object]]]] = [
        ("1 sync no-op", [("a", SyncNoop())]),
        ("1 async no-op", [("a", AsyncNoop())]),
        ("4 sync no-op", [(n, SyncNoop()) for n in "abcd"]),
    ]
    for i, (label, plugins) in enumerate(cases):
        r = delivery_rate(base / f"d{i}", plugins, a.events)
        print(f"| {label} | {a.events} | {r:.0f} | {r / ow:.2f} |")
    head = f"intake, 1 client, {a.bids} bids of 4 KiB"
    print(f"\n| {head} | p50 ms | p90 ms | max ms | events still pending at the end |")
    print("|---|---|---|---|---|")
    for i, (label, plugins) in enumerate(
        [("no plugin", []), ("no-op plugin", [("a", SyncNoop())]), ("slow plugin (200 ms/event)", [("s", Slow())])]
    ):
        p50, p90, mx, pending = intake_latency(base / f"i{i}", plugins, a.bids)
        print(f"| {label} | {p50:.1f} | {p90:.1f} | {mx:.1f} | {pending} |")
    fs1 = fsync_rate(base)
    print(f"\nanchor at the end: fsync {fs1:.0f}/s")


if __name__ == "__main__":
    main()
