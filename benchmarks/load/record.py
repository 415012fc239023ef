"""Run a load profile with same-run anchors and print the docs/performance.md table (## Load test (issue 10)).

    python benchmarks/load/record.py --profile stress [--dir /disk/under/test] [--charts docs/img] [--cache DIR]

Anchors measured in the same run, on the same disk as the server's data: the raw fsync rate (4 KiB append
+ fsync, benchmarks/ledger_bench.py) before and after, and `bidkernel sm3` speed. `bidkernel loadtest` runs
as its own process; its report.json is read back and summarised; ``--charts`` copies its SVG charts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parents[1]))

from intake_bench import sm3_speed
from ledger_bench import fsync_rate

CLI = [sys.executable, "-c", "from bidkernel.cli.main import main; main()"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="stress")
    ap.add_argument("--dir", type=Path, default=None, help="Disk under test (server data, anchors).")
    ap.add_argument("--out", type=Path, default=None, help="Report directory (default: a temp dir).")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--charts", type=Path, default=None, help="Copy the SVG charts here as loadtest-<profile>-*.svg.")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="loadtest-record-", dir=args.dir))
    out = args.out or base / "report"
    f0 = fsync_rate(base, 300)
    sm3 = sm3_speed(base)
    cmd = [*CLI, "loadtest", "--profile", args.profile, "--out", str(out), "--data", str(base)]
    if args.cache:
        cmd += ["--cache", str(args.cache)]
    rc = subprocess.run(cmd, check=False).returncode
    f1 = fsync_rate(base, 300)
    r = orjson.loads((out / "report.json").read_bytes())
    c, th, srv = r["counts"], r["throughput"], r["server"]
    lc, lu = r["latency_ms"]["corrected"], r["latency_ms"]["uncorrected"]
    sc = r["profile"]["scale"]
    print(
        f"\n# profile {args.profile} (scale count {sc['count']:g}, size {sc['size']:g}, time {sc['time']:g}); "
        f"exit {rc}; {r['started_at']}"
    )
    print(
        f"# anchors: raw fsync {f0:,.0f}/s before, {f1:,.0f}/s after (4 KiB append + fsync); "
        f"bidkernel sm3 {sm3:,.0f} MB/s"
    )
    rows = [
        ("tenders / bids scheduled / late probes", f"{c['tenders']} / {c['scheduled']} / {c['late_probes_sent']}"),
        ("accepted / rejected / errors", f"{c['accepted']} / {c['rejected']} {r['rejected_by_type']} / "
                                         f"{c['errors']} {r['errors_by_type']}"),
        ("sent before the deadline but still in flight at it (refused)", c["missed_deadline_in_flight"]),
        ("late probes refused", f"{c['late_probes_refused']} / {c['late_probes_sent']} {r['late_probes_by_outcome']}"),
        ("receipts verified offline / lost / late acceptances",
         f"{r['integrity']['receipts_verified']} / {r['integrity']['lost_receipts']} / "
         f"{r['integrity']['late_acceptances']}"),
        ("receipt latency, corrected: p50 / p90 / p99 / p99.9 / max ms",
         " / ".join(f"{lc[k]:.0f}" for k in ("p50", "p90", "p99", "p999", "max"))),
        ("receipt latency, uncorrected: p50 / p99 / max ms", " / ".join(f"{lu[k]:.0f}" for k in ("p50", "p99", "max"))),
        ("accepted bids/s: mean / peak 1 s", f"{th['accepted_per_s']:.1f} / {th['peak_accepted_per_s']}"),
        ("envelope MB/s: mean / peak 1 s", f"{th['bytes_per_s'] / 1e6:.2f} / {th['peak_bytes_per_s'] / 1e6:.2f}"),
        ("envelope bytes accepted", f"{th['bytes_accepted'] / 1e6:.0f} MB"),
        ("server CPU s (of drive s) / peak RSS", f"{srv['cpu_seconds']} ({th['drive_s']:.0f}) / "
                                                 f"{(srv['peak_rss_bytes'] or 0) / 2**20:.0f} MiB"),
        ("server fsyncs (per accepted bid)", f"{srv['fsync_total']} {srv['fsync_by_kind']} "
                                             f"({(srv['fsync_total'] or 0) / max(1, c['accepted']):.1f})"),
        ("harness CPU s during the drive", r["harness"]["cpu_seconds"]),
        ("opening", r["opening"]["note"] or "deadline -> 唱标 p50 {p50} max {max} ms".format(
            **r["opening"]["summary_after_deadline_ms"])),
    ]  # fmt: skip
    print("\n| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    if args.charts:
        args.charts.mkdir(parents=True, exist_ok=True)
        for f in out.glob("*.svg"):
            shutil.copy(f, args.charts / f"loadtest-{args.profile}-{f.name}")
        print(f"# charts copied to {args.charts}")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
