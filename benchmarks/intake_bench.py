"""Intake throughput and latency over loopback, next to the disk's raw fsync rate and `bidkernel sm3`
hashing speed measured in the same run (docs/performance.md "## Intake").

For each bid size (64 KiB and 8 MiB of envelope payload, plus a small 唱标 summary envelope) and each
number of concurrent clients (1, 16, 128), with and without group commit, a fresh `bidkernel serve`
subprocess on a fresh data directory receives distinct, really sealed packages (GM/T 0010 envelopes,
SM2 signatures; distinct content so the content-addressed store cannot deduplicate) over signed HTTP
requests from client threads. Closed model: each client sends its next bid when the previous receipt
arrives, so latencies are service times under that concurrency (no coordinated-omission correction).
Open model (``--open RATE``): bids arrive on a fixed schedule, RATE per second, whatever the server
does (k6's constant-arrival-rate, wrk2's idea); each latency is measured from the bid's scheduled
time, so queueing behind a slow server counts (coordinated omission corrected).
``--fsyncs``: one extra row per bid size under ``strace -f -c`` counting fsync/fdatasync calls per bid.
The load generator shares the machine's cores with the server.

    python benchmarks/intake_bench.py --dir /path/on/the/disk/under/test [--quick] [--only 64k:16:on ...]
        [--open 20 --open-bids 200] [--fsyncs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ledger_bench import fsync_rate

from bidkernel.client import ApiError, KernelClient, Package, seal_package
from bidkernel.crypto.ca import Issued
from bidkernel.platform import Pki, issue_opening_certificate

CLI = [sys.executable, "-c", "from bidkernel.cli.main import main; main()"]


def sm3_speed(d: Path, mib: int = 256) -> float:
    """MB/s of `bidkernel sm3 FILE` on a ``mib`` MiB file, process start-up subtracted."""
    big, empty = d / "sm3.bin", d / "empty.bin"
    with open(big, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    empty.write_bytes(b"")
    subprocess.run([*CLI, "sm3", str(big)], check=True, capture_output=True)  # warm the page cache
    t0 = time.perf_counter()
    subprocess.run([*CLI, "sm3", str(empty)], check=True, capture_output=True)
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([*CLI, "sm3", str(big)], check=True, capture_output=True)
    full = time.perf_counter() - t0
    big.unlink()
    return mib * (1 << 20) / 1e6 / max(full - base, 1e-6)


def free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def serve(data: Path, port: int, group_commit: bool, strace_out: Path | None = None) -> subprocess.Popen[bytes]:
    cmd = [*CLI, "serve", "--data", str(data), "--port", str(port), "--max-in-flight", "4096"]
    if not group_commit:
        cmd.append("--no-group-commit")
    if strace_out is not None:
        cmd = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(strace_out), *cmd]
    extra = _version_args(cmd)
    proc = subprocess.Popen(cmd + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            KernelClient(f"http://127.0.0.1:{port}", timeout=1).call("GET", "/healthz")
            return proc
        except (OSError, ApiError):
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def _version_args(cmd: list[str]) -> list[str]:
    """Per-client rate limits (newer kernels) would throttle a benchmark: lift them where the option exists."""
    help_text = subprocess.run([*CLI, "serve", "--help"], capture_output=True, text=True).stdout
    return ["--client-rate", "0"] if "--client-rate" in help_text else []


def strace_fsyncs(path: Path) -> int:
    """fsync + fdatasync calls from an ``strace -c`` summary."""
    n = 0
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fsync", "fdatasync"):
            n += int(parts[3])
    return n


def run_combo(
    work: Path, pki_dir: Path, bidders: list[Issued], agency: Issued, opener: Issued, size: int, clients: int,
    per_client: int, group_commit: bool, sources: Path, *, open_rate: float = 0.0, count_fsyncs: bool = False,
) -> dict[str, float]:  # fmt: skip
    data = work / "srv"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    shutil.copytree(pki_dir, data / "pki")
    port = free_port()
    trace = work / "strace.txt" if count_fsyncs else None
    proc = serve(data, port, group_commit, trace)
    url = f"http://127.0.0.1:{port}"
    try:
        ac = KernelClient(url, agency.key, agency.certificate)
        dl = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
        t = ac.call("POST", "/tenders", {"title": "bench", "deadline": dl,
                                         "opening_certificates": [opener.certificate.to_pem().decode()]})  # fmt: skip
        ac.call("POST", f"/tenders/{t['id']}/publish")
        pkgs: list[list[Package]] = []
        for c in range(clients):
            row = []
            for j in range(per_client):
                d = sources / f"{size}-{c}-{j}"
                if not d.exists():
                    d.mkdir(parents=True)
                    (d / "s.json").write_text(f'{{"price": {c * 1000 + j}}}')
                    (d / "doc.bin").write_bytes(os.urandom(size))
                # sealed anew for this tender: fresh content key and IV, so every ciphertext is distinct
                p = d / f"pkg-{t['id']}"
                b = bidders[c]
                seal_package(p, tender_id=t["id"], opening_certificates=[opener.certificate], summary=d / "s.json",
                             files=[("technical", d / "doc.bin")], key=b.key, cert=b.certificate)  # fmt: skip
                row.append(Package.load(p))
            pkgs.append(row)
        os.sync()  # the sealing's dirty pages must not compete with the measured fsyncs
        time.sleep(0.5)
        lat: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(clients + 1)
        # open model: bid i of the flattened list is due at t0 + i / open_rate, whoever sends it
        schedule = [(c, j) for j in range(per_client) for c in range(clients)]
        next_i = [0]
        t_start = [0.0]

        def open_client(c: int) -> None:
            kcs = {}
            start.wait()
            while True:
                with lock:
                    i = next_i[0]
                    next_i[0] += 1
                if i >= len(schedule):
                    return
                due = t_start[0] + i / open_rate
                time.sleep(max(0.0, due - time.perf_counter()))
                b, j = schedule[i]
                kc = kcs.get(b) or KernelClient(url, bidders[b].key, bidders[b].certificate, timeout=300)
                kcs[b] = kc
                try:
                    kc.submit(t["id"], pkgs[b][j])
                except Exception as exc:  # counted, not hidden
                    with lock:
                        errors.append(str(exc)[:100])
                    continue
                with lock:
                    lat.append(time.perf_counter() - due)  # from the scheduled time: queueing counts

        def client(c: int) -> None:
            kc = KernelClient(url, bidders[c].key, bidders[c].certificate, timeout=300)
            start.wait()
            for p in pkgs[c]:
                t0 = time.perf_counter()
                try:
                    kc.submit(t["id"], p)
                except Exception as exc:  # counted, not hidden
                    with lock:
                        errors.append(str(exc)[:100])
                    continue
                with lock:
                    lat.append(time.perf_counter() - t0)

        # open model: enough senders that a slow server never delays an arrival (each waits for its reply)
        senders = min(len(schedule), 256) if open_rate else clients
        target = open_client if open_rate else client
        start = threading.Barrier(senders + 1)
        threads = [threading.Thread(target=target, args=(c,)) for c in range(senders)]
        for th in threads:
            th.start()
        t_start[0] = time.perf_counter() + 0.05
        start.wait()
        t0 = time.perf_counter()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        for row in pkgs:
            for p in row:
                shutil.rmtree(p.dir)
    finally:
        if trace is not None:  # stop the traced server, not strace (which then writes its summary)
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            for kid in kids:
                os.kill(int(kid), 15)
        else:
            proc.terminate()
        proc.wait(30)
        shutil.rmtree(data, ignore_errors=True)
    fsyncs = strace_fsyncs(trace) if trace is not None else float("nan")
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "n": len(lat),
        "errors": len(errors),
        "bids_s": len(lat) / wall,
        "mb_s": len(lat) * size / 1e6 / wall,
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": lat[-1] * 1000 if lat else float("nan"),
        "mean": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "fsyncs": fsyncs,
    }


def _label(size: int) -> str:
    return "64 KiB" if size == 64 << 10 else "8 MiB"


def _row(r: dict[str, float], size: int, clients: str, gc: bool) -> str:
    return (f"| {_label(size)} | {clients} | {'on' if gc else 'off'} | {r['n']:.0f} | {r['bids_s']:.1f} | "
            f"{r['mb_s']:.1f} | {r['p50']:.0f} | {r['p90']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | "
            f"{r['errors']:.0f} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=None, help="Directory on the disk under test (default: a temp dir).")
    ap.add_argument("--quick", action="store_true", help="Fewer requests per combination.")
    ap.add_argument("--only", nargs="*", default=None, help="Rows to run, e.g. 64k:16:on 8m:1:off.")
    ap.add_argument("--open", type=float, default=0.0, help="Also run open-model rows at this many bids/s.")
    ap.add_argument("--open-bids", type=int, default=200, help="Bids per open-model row (64 KiB).")
    ap.add_argument("--fsyncs", action="store_true", help="Count fsyncs per bid under strace (1 client).")
    ap.add_argument("--no-anchors", action="store_true", help="Skip the fsync and SM3 anchors.")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="intake-bench-", dir=args.dir))
    try:
        pki = Pki.load_or_create(base / "pki")
        agency = pki.ca.issue("CN=agency,OU=agency,O=agency")
        opener = issue_opening_certificate(pki.ca, "CN=opening,O=agency")
        bidders = [pki.ca.issue(f"CN=b{i},OU=bidder,O=b{i}") for i in range(128)]
        if not args.no_anchors:
            print(f"# raw fsync (4 KiB append + fsync): {fsync_rate(base, 300):,.0f}/s")
            print(f"# bidkernel sm3: {sm3_speed(base):,.0f} MB/s")
        plan = {
            64 << 10: {1: 100, 16: 16, 128: 4},
            8 << 20: {1: 8, 16: 2, 128: 1},
        }
        if args.quick:
            plan = {64 << 10: {1: 30, 16: 4, 128: 2}, 8 << 20: {1: 3, 16: 1, 128: 1}}
        names = {64 << 10: "64k", 8 << 20: "8m"}
        print(
            "| bid payload | clients | group commit | bids | bids/s | MB/s | p50 ms | p90 ms | p99 ms | max ms | errors |"  # noqa: E501
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for size, by_clients in plan.items():
            for clients, per in by_clients.items():
                for gc in (True, False):
                    key = f"{names[size]}:{clients}:{'on' if gc else 'off'}"
                    if args.only is not None and key not in args.only:
                        continue
                    r = run_combo(base, base / "pki", bidders, agency, opener, size, clients, per, gc, base / "src")
                    print(_row(r, size, str(clients), gc), flush=True)
        if args.open:
            n = args.open_bids
            r = run_combo(base, base / "pki", bidders, agency, opener, 64 << 10, 128, max(1, n // 128), True,
                          base / "src", open_rate=args.open)  # fmt: skip
            print(_row(r, 64 << 10, f"open {args.open:g}/s", True) + " (open model)", flush=True)
        if args.fsyncs:
            for size, n in ((64 << 10, 40), (8 << 20, 8)):
                r = run_combo(base, base / "pki", bidders, agency, opener, size, 1, n, True, base / "src",
                              count_fsyncs=True)  # fmt: skip
                per = r["fsyncs"] / max(1, r["n"])
                print(f"# fsyncs per bid ({_label(size)}, 1 client, whole server run incl. start-up and tender): "
                      f"{per:.2f} ({r['fsyncs']:.0f} for {r['n']:.0f} bids)", flush=True)  # fmt: skip
        if not args.no_anchors:
            print(f"# raw fsync again at the end: {fsync_rate(base, 300):,.0f}/s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
