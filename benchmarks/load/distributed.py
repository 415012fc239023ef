"""Set-up and verification for distributed runs (Locust master + workers; see locustfile.py and
run_distributed.sh; docs/load_testing.md "Distributed generation").

    python benchmarks/load/distributed.py setup  --profile smoke --url URL --pki DATA/pki --cache DIR --run run.json
    locust -f benchmarks/load/locustfile.py --master ... / --worker ...     (each worker sends its share)
    python benchmarks/load/distributed.py verify --run run.json

``setup`` seals the profile's bids with the same generator as ``bidkernel loadtest`` (cached), creates and
publishes the tenders, writes each package's manifest and body digest, and writes ``run.json``: the
schedule anchored at an absolute start time (``--start-in`` seconds ahead, so the workers are up).
Workers append one JSON line per submission to ``results-<worker>.jsonl`` beside run.json;
``verify`` checks every receipt offline, the closing records and the deadlines exactly as the
single-machine harness does (bidkernel.loadtest.runner.verify) and prints the merged figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from bidkernel.crypto.x509 import Certificate
from bidkernel.loadtest.generator import BidCache, PlannedBid, Timing, schedule
from bidkernel.loadtest.hist import LatencyHistogram
from bidkernel.loadtest.profiles import load_profile
from bidkernel.loadtest.runner import Options, Outcome, Run, verify


def _run_obj(args: argparse.Namespace, prof: dict[str, Any]) -> Run:
    r = Run(Options(prof, Path(args.run).parent, Path(args.cache), url=args.url, pki=Path(args.pki)))
    r.start_server(BidCache(Path(args.cache), prof, Path(args.pki)))  # --url: only checks /healthz
    return r


def setup(args: argparse.Namespace) -> None:
    prof = load_profile(args.profile)
    cache = BidCache(Path(args.cache), prof, Path(args.pki))
    cache.build(lambda m: print(m, flush=True))
    r = _run_obj(args, prof)
    sched = schedule(prof, cache.plan)
    tm = Timing.of(prof)
    n = len(cache.plan)
    total = sum(b.nbytes for t in cache.plan for b in t)
    t0 = time.time() + args.start_in + total / 150e6
    deadlines = [int((t0 + tm.deadline(i, n)) * 1000) for i in range(n)]
    tenders = asyncio.run(r.create_tenders(cache, deadlines))
    subs = []
    cache.clear_runs()
    for s, bid in sched:
        t = tenders[bid.tender]
        certs = [Certificate.from_pem(x.encode()) for x in t["opening_certificates"]]
        pkg = cache.package(bid, t["id"], certs)
        subs.append(
            {
                "sched_s": s,
                "bid": bid.name,
                "tender": bid.tender,
                "slot": bid.slot,
                "probe": bid.probe,
                "tender_id": t["id"],
                "deadline_ms": t["deadline_ms"],
                "manifest": pkg.manifest,
                "body_sm3": pkg.body_sm3(),
                "length": pkg.length(),
            }
        )
    doc = {
        "url": args.url,
        "cache_dir": str(cache.dir),
        "pki": args.pki,
        "profile": prof,
        "t0_unix": t0,
        "tenders": tenders,
        "submissions": subs,
    }
    Path(args.run).write_bytes(orjson.dumps(doc))
    print(
        f"{len(tenders)} tenders, {len(subs)} submissions; schedule starts at {t0:.3f} "
        f"({t0 - time.time():.1f} s from now); wrote {args.run}"
    )


def verify_run(args: argparse.Namespace) -> int:
    run_path = Path(args.run)
    doc = orjson.loads(run_path.read_bytes())
    prof = doc["profile"]
    cache = BidCache(Path(doc["cache_dir"]).parent, prof, Path(doc["pki"]))
    r = _run_obj(argparse.Namespace(run=args.run, cache=str(cache.dir.parent), url=doc["url"], pki=doc["pki"]), prof)
    lines = [
        orjson.loads(x) for f in sorted(run_path.parent.glob("results-*.jsonl")) for x in f.read_bytes().splitlines()
    ]
    subs = {s["bid"]: s for s in doc["submissions"]}
    outcomes, packages = [], {}
    hist = LatencyHistogram()
    per_worker: dict[str, int] = {}
    for x in lines:
        s = subs[x["bid"]]
        bid = PlannedBid(s["tender"], s["slot"], 0.0, (), s["probe"])
        oc = Outcome(
            bid,
            s["tender_id"],
            s["deadline_ms"],
            s["sched_s"],
            start_wall_ms=x["start_wall_ms"],
            status=x["status"],
            problem=x["problem"],
            error=x["error"],
            receipt=x["receipt"],
        )
        outcomes.append(oc)
        packages[x["bid"]] = cache.package(bid, s["tender_id"])
        per_worker[x["worker"]] = per_worker.get(x["worker"], 0) + 1
        if x["status"] is not None and 200 <= x["status"] < 300:
            hist.record(x["corrected_s"])

    async def closings() -> dict[str, Any]:
        got = await asyncio.gather(*(r.closing(t) for t in doc["tenders"]))
        return {t["id"]: c for t, c in zip(doc["tenders"], got, strict=True)}

    integ = verify(outcomes, asyncio.run(closings()), cache, packages)
    ok = sum(1 for o in outcomes if o.status is not None and 200 <= o.status < 300 and not o.bid.probe)
    probes = [o for o in outcomes if o.bid.probe]
    s = hist.summary()
    print(f"results: {len(lines)} of {len(subs)} submissions, by worker {per_worker}")
    print(
        f"accepted {ok}; late probes refused {sum(1 for o in probes if o.problem == 'deadline-passed')}/{len(probes)}"
    )
    print(
        f"receipt latency (corrected) p50 {s['p50']:.1f} p90 {s['p90']:.1f} p99 {s['p99']:.1f} "
        f"p99.9 {s['p999']:.1f} max {s['max']:.1f} ms"
    )
    print(
        f"receipts verified {integ['receipts_verified']}, lost receipts {integ['lost_receipts']}, "
        f"late acceptances {integ['late_acceptances']}, closing records missing {len(integ['closing_missing'])}"
    )
    bad = integ["lost_receipts"] or integ["late_acceptances"] or integ["closing_missing"] or len(lines) != len(subs)
    return 1 if bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("setup")
    a.add_argument("--profile", default="smoke")
    a.add_argument("--url", required=True)
    a.add_argument("--pki", required=True)
    a.add_argument("--cache", required=True)
    a.add_argument("--run", required=True)
    a.add_argument("--start-in", type=float, default=20.0, help="Seconds until the schedule starts.")
    v = sub.add_parser("verify")
    v.add_argument("--run", required=True)
    args = ap.parse_args()
    if args.cmd == "setup":
        setup(args)
    else:
        raise SystemExit(verify_run(args))


if __name__ == "__main__":
    main()
