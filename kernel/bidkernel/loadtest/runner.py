"""One load-test run: server, tenders, the open-model drive, late probes, closing, opening, verification.

Open model (k6 ``constant-arrival-rate``/``ramping-arrival-rate``, wrk2): every bid is sent at its
scheduled time whether or not earlier ones were answered; a bid that has to wait for a free connection
(``client.max_connections``) or for a retry after ``429`` keeps its scheduled start, and its latency is
measured from that scheduled start. That is the coordinated-omission correction: a stalled server
shows up as latency, not as fewer samples. The uncorrected latency (from the moment the request was
actually sent) is kept beside it.

Integrity, checked after the run from the receipts alone plus each tender's public closing record:
every 2xx must carry a receipt that verifies offline (:func:`bidkernel.receipt.verify_receipt`, trust
anchored in the test CA), that names this submission (tender, bidder, envelope digests), whose bid is
in the closing record's live bids — otherwise it is a *lost receipt*. A receipt whose receive time
is not before the deadline, or for a request the harness started after the deadline by its own clock
(the late probes), is a *late acceptance* (电子招标投标办法 Art. 25 as summarised in DOMAIN.md: after
the deadline nothing is accepted).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform as _platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bidkernel import __version__
from bidkernel.authn import EMPTY_SM3, sign_headers
from bidkernel.client import Package
from bidkernel.crypto.ca import Issued
from bidkernel.crypto.sm3 import sm3
from bidkernel.crypto.x509 import Certificate
from bidkernel.loadtest.aio_http import HttpError, HttpResult, request
from bidkernel.loadtest.generator import BidCache, PlannedBid, Timing, schedule
from bidkernel.loadtest.hist import LatencyHistogram
from bidkernel.loadtest.server_stats import ServerSampler
from bidkernel.receipt import ReceiptError, verify_receipt

REPORT_FORMAT = "bidkernel/loadtest-report/v1"
OPENING_UNAVAILABLE = "opening not available on this server"
_CLI = [sys.executable, "-c", "from bidkernel.cli.main import main; main()"]


class LoadTestError(Exception):
    """The run could not be set up (no server, bad pki dir...); the message says what to fix."""


@dataclass
class Options:
    profile: dict[str, Any]
    out: Path
    cache: Path
    url: str | None = None
    pki: Path | None = None
    data: Path | None = None
    keep_data: bool = False
    progress: Callable[[str, bool], None] | None = None  # (line, final)
    closing_timeout_s: float = 60.0
    serve_args: tuple[str, ...] = ()


@dataclass
class Outcome:
    bid: PlannedBid
    tender_id: str
    deadline_ms: int
    sched_s: float
    start_s: float = 0.0
    end_s: float = 0.0
    start_wall_ms: int = 0
    status: int | None = None
    problem: str | None = None
    error: str | None = None
    receipt: dict[str, Any] | None = None
    nbytes: int = 0
    retries: int = 0


@dataclass
class Live:
    """Counters the progress line and the 1 s series read while the drive runs."""

    t0: float
    in_flight: int = 0
    sent: int = 0
    done: int = 0
    ok: int = 0
    rejected: int = 0
    errors: int = 0
    corrected: LatencyHistogram = field(default_factory=LatencyHistogram)
    uncorrected: LatencyHistogram = field(default_factory=LatencyHistogram)
    buckets: dict[int, dict[str, Any]] = field(default_factory=dict)

    def bucket(self, t: float) -> dict[str, Any]:
        k = max(0, int(t))
        if k not in self.buckets:
            self.buckets[k] = {"accepted": 0, "rejected": 0, "errors": 0, "bytes": 0, "hist": LatencyHistogram()}
        return self.buckets[k]


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _problem_kind(res: HttpResult) -> str:
    try:
        doc = res.json()
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("type"), str):
        return str(doc["type"]).rsplit("/", 1)[-1]
    return f"http-{res.status}"


class Run:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.p = opts.profile
        self.say: Callable[[str, bool], None] = opts.progress or (lambda _line, _final: None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.data_dir: Path | None = None
        self.url = opts.url or ""
        self.host, self.port = "127.0.0.1", 0
        self.notes: list[str] = []

    # ------------------------------------------------------------------------------------------- server
    def start_server(self, cache: BidCache) -> None:
        if self.o.url:
            u = urllib.parse.urlsplit(self.o.url)
            if u.scheme != "http" or not u.hostname:
                raise LoadTestError(f"--url wants http://HOST:PORT, not {self.o.url!r}")
            self.host, self.port = u.hostname, u.port or 80
            self._wait_healthy(None)
            return
        self.data_dir = Path(tempfile.mkdtemp(prefix="bidkernel-loadtest-", dir=self.o.data))
        shutil.copytree(cache.pki_dir, self.data_dir / "pki")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(self.o.out / "server.log", "wb")  # lives as long as the server
        cmd = [
            *_CLI,
            "serve",
            "--data",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--max-in-flight",
            str(self.p["server"]["max_in_flight"]),
            *self.o.serve_args,
        ]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self._wait_healthy(self.proc)

    def _wait_healthy(self, proc: subprocess.Popen[bytes] | None) -> None:
        import http.client

        end = time.monotonic() + 60
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                raise LoadTestError(f"the server exited with {proc.returncode}; see {self.o.out / 'server.log'}")
            try:
                c = http.client.HTTPConnection(self.host, self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise LoadTestError(f"no healthy kernel at http://{self.host}:{self.port} (GET /healthz)")

    def stop_server(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.data_dir is not None and not self.o.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # --------------------------------------------------------------------------------------------- http
    def _signed(self, who: Issued, method: str, path: str, body: bytes | None = None) -> dict[str, str]:
        q = urllib.parse.urlsplit(path)
        h = sign_headers(
            who.key, who.certificate, method, q.path, q.query, body_sm3=sm3(body).hex() if body else EMPTY_SM3
        )
        if body is not None:
            h["Content-Type"] = "application/json"
        return h

    async def call(
        self, who: Issued | None, method: str, path: str, obj: Any = None, timeout: float = 60.0
    ) -> HttpResult:
        body = orjson.dumps(obj) if obj is not None else (b"" if method == "POST" else None)
        h = self._signed(who, method, path, body) if who is not None else {}
        return await asyncio.wait_for(
            request(self.host, self.port, method, path, h, prefix=body or b"", length=len(body or b"")), timeout
        )

    def measure_clock_offset(self) -> float | None:
        """Server trusted time minus the harness clock, ms (GET /platform's ``time``; loopback RTT / 2)."""

        async def once() -> float | None:
            t1 = time.time()
            r = await self.call(None, "GET", "/platform")
            t2 = time.time()
            if r.status != 200:
                return None
            s = dt.datetime.fromisoformat(str(r.json()["time"]).replace("Z", "+00:00")).timestamp()
            return (s - (t1 + t2) / 2) * 1000

        try:
            vals = [v for v in (asyncio.run(once()) for _ in range(3)) if v is not None]
        except (HttpError, OSError, KeyError, ValueError, TimeoutError):
            return None
        return round(sorted(vals)[len(vals) // 2], 1) if vals else None

    # ------------------------------------------------------------------------------------------ tenders
    async def create_tenders(self, cache: BidCache, deadlines_ms: list[int]) -> list[dict[str, Any]]:
        ag = cache.agency
        out = []
        for i, dl in enumerate(deadlines_ms):
            # platform custody with the kernel's own opening key (generated at publication): the kernel can
            # open these tenders itself at the deadline; the bids are re-addressed to it (BidCache.package)
            req = {
                "title": f"loadtest {self.p['name']} tender {i}",
                "deadline": dl,
                "custody": "platform",
            }
            r = await self.call(ag, "POST", "/tenders", req)
            if r.status != 201:
                raise LoadTestError(f"POST /tenders answered {r.status} {_problem_kind(r)}: {r.body[:300]!r}")
            tid = r.json()["id"]
            r = await self.call(ag, "POST", f"/tenders/{tid}/publish")
            if r.status != 200:
                raise LoadTestError(f"publish answered {r.status} {_problem_kind(r)}: {r.body[:300]!r}")
            out.append({"id": tid, "deadline_ms": dl, "opening_certificates": r.json()["opening_certificates"]})
        return out

    # -------------------------------------------------------------------------------------------- drive
    async def submit(
        self, live: Live, sem: asyncio.Semaphore, oc: Outcome, pkg: Package, sm3_hex: str, who: Issued, length: int
    ) -> None:
        c = self.p["client"]
        path = f"/tenders/{oc.tender_id}/bids"
        files = pkg.files()
        prefix = pkg.prefix()
        oc.nbytes = length
        async with sem:
            live.in_flight += 1
            live.sent += 1
            oc.start_s = time.monotonic() - live.t0
            oc.start_wall_ms = time.time_ns() // 1_000_000
            try:
                while True:
                    t_send = time.monotonic()
                    h = sign_headers(who.key, who.certificate, "POST", path, "", body_sm3=sm3_hex)
                    h["Content-Type"] = "application/vnd.bidkernel.bid-package"
                    try:
                        res = await asyncio.wait_for(
                            request(self.host, self.port, "POST", path, h, prefix=prefix, files=files, length=length),
                            c["timeout_s"],
                        )
                    except TimeoutError:
                        oc.error = "timeout"
                        break
                    except HttpError as exc:
                        oc.error = exc.kind
                        break
                    if res.status == 429 and oc.retries < c["retries_when_overloaded"]:
                        oc.retries += 1
                        await asyncio.sleep(float(res.headers.get("retry-after", "1") or 1))
                        continue
                    oc.status = res.status
                    if 200 <= res.status < 300:
                        try:
                            oc.receipt = res.json()
                        except orjson.JSONDecodeError:
                            oc.receipt = None
                    else:
                        oc.problem = _problem_kind(res)
                    break
            finally:
                live.in_flight -= 1
        end = time.monotonic()
        oc.end_s = end - live.t0
        live.done += 1
        b = live.bucket(oc.end_s)
        if oc.status is not None and 200 <= oc.status < 300:
            live.ok += 1
            b["accepted"] += 1
            b["bytes"] += length
            corrected = oc.end_s - oc.sched_s
            live.corrected.record(corrected)
            live.uncorrected.record(end - t_send)
            b["hist"].record(corrected)
        elif oc.status is not None:
            live.rejected += 1
            b["rejected"] += 1
        else:
            live.errors += 1
            b["errors"] += 1

    async def drive(self, plan: list[tuple[float, Outcome, Package, str, Issued, int]], live: Live) -> None:
        sem = asyncio.Semaphore(self.p["client"]["max_connections"])
        tasks: list[asyncio.Task[None]] = []
        stop = asyncio.Event()

        async def progress() -> None:
            last = -1.0
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass
                now = time.monotonic() - live.t0
                b = live.buckets.get(int(now) - 1, {})
                rate = b.get("accepted", 0) + b.get("rejected", 0) + b.get("errors", 0)
                if now - last >= 1.0 or stop.is_set():
                    last = now
                    self.say(
                        f"t={now:6.1f}s sent {live.sent}/{len(plan)} done {live.done} rate {rate}/s "
                        f"in-flight {live.in_flight} ok {live.ok} rejected {live.rejected} errors {live.errors} "
                        f"p99 {live.corrected.percentile_ms(99):.0f} ms",
                        stop.is_set(),
                    )

        ptask = asyncio.create_task(progress())
        for sched, oc, pkg, sm3_hex, who, length in plan:
            delay = live.t0 + sched - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.submit(live, sem, oc, pkg, sm3_hex, who, length)))
        await asyncio.gather(*tasks)
        stop.set()
        await ptask

    # ------------------------------------------------------------------------------------ closing/opening
    async def closing(self, tender: dict[str, Any]) -> dict[str, Any] | None:
        end = time.monotonic() + self.o.closing_timeout_s
        while time.monotonic() < end:
            try:
                r = await self.call(None, "GET", f"/tenders/{tender['id']}/closing")
                if r.status == 200:
                    doc: dict[str, Any] = r.json()
                    return doc
            except (HttpError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
        return None

    async def opening(self, cache: BidCache, tender: dict[str, Any], triggered: asyncio.Event) -> dict[str, Any]:
        """Trigger the opening at the deadline and follow it (contract: docs/load_testing.md "Opening")."""
        op = self.p["opening"]
        path = f"/tenders/{tender['id']}/opening"
        res: dict[str, Any] = {"state": None, "triggered_ms": None, "summary_ms": None, "finished_ms": None}
        end = time.monotonic() + op["timeout_s"] * self.p["scale"]["time"] + 30
        while True:
            r = await self.call(cache.agency, "POST", path, {})
            if r.status in (404, 405):
                res["state"] = "unavailable"
                return res
            if r.status == 409 and _problem_kind(r) == "too-early" and time.monotonic() < end:
                await asyncio.sleep(0.1)
                continue
            if r.status not in (200, 202):
                res["state"] = "trigger-refused"
                res["problem"] = _problem_kind(r)
                return res
            res["triggered_ms"] = time.time_ns() // 1_000_000
            triggered.set()
            break
        doc: dict[str, Any] = {}
        while time.monotonic() < end:
            g = await self.call(cache.agency, "GET", path)
            if g.status == 200:
                doc = g.json()
                if doc.get("state") in ("opened", "failed"):
                    break
            await asyncio.sleep(0.25)
        res.update(
            state=doc.get("state", "timeout") if doc.get("state") in ("opened", "failed") else "timeout",
            started_ms=doc.get("started_ms"),
            summary_ms=doc.get("summary_ms"),
            finished_ms=doc.get("finished_ms"),
            table=doc.get("table") or [],
            failures=doc.get("failures") or [],
        )
        return res

    async def viewers(
        self, tenders: list[dict[str, Any]], n_bids: int, hist: LatencyHistogram, stop: asyncio.Event
    ) -> int:
        """Opening-hall readers: GET /tenders/{id}/opening every ``poll_s`` until the openings end."""
        op = self.p["opening"]
        n = min(int(n_bids * op["viewers_per_bid"] * (1 + op["public_viewers"])), op.get("max_viewers", 200))
        count = 0

        async def viewer(i: int) -> None:
            nonlocal count
            tid = tenders[i % len(tenders)]["id"]
            await asyncio.sleep(op["poll_s"] * i / max(1, n))
            while not stop.is_set():
                t = time.monotonic()
                try:
                    await self.call(None, "GET", f"/tenders/{tid}/opening", timeout=30)
                    hist.record(time.monotonic() - t)
                    count += 1
                except (HttpError, TimeoutError):
                    pass
                try:
                    await asyncio.wait_for(stop.wait(), op["poll_s"])
                except TimeoutError:
                    pass

        await asyncio.gather(*(viewer(i) for i in range(n)))
        return count


def _late_s(oc: Outcome) -> bool:
    return oc.start_wall_ms >= oc.deadline_ms


def verify(
    outcomes: list[Outcome], closings: dict[str, dict[str, Any] | None], cache: BidCache, packages: dict[str, Package]
) -> dict[str, Any]:
    """Receipts checked offline against the test CA; lost receipts and late acceptances listed."""
    roots = [cache.ca.root.certificate]
    lost: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    verified = 0
    seen: dict[str, str] = {}
    acked: dict[str, set[str]] = {}
    for oc in outcomes:
        if oc.status is None or not 200 <= oc.status < 300:
            continue
        key = oc.bid.name
        who = cache.bidder(oc.bid.slot)

        def lose(reason: str, oc: Outcome = oc, key: str = key) -> None:
            lost.append({"tender_id": oc.tender_id, "bid": key, "reason": reason})

        doc = oc.receipt
        try:
            s = verify_receipt(doc, roots=roots)
        except ReceiptError as exc:
            lose(f"receipt does not verify ({exc.code}): {exc}")
            continue
        verified += 1
        assert isinstance(doc, dict)
        body = doc["body"]
        want = [e["sm3"] for e in packages[key].manifest["envelopes"]]
        if (
            s.tender_id != oc.tender_id
            or s.bidder != who.certificate.fingerprint.hex()
            or [e["sm3"] for e in s.envelopes] != want
            or s.kind not in ("bid.received", "bid.replaced")
        ):
            lose("the receipt is for another submission (tender, bidder or envelope digests differ)")
            continue
        if s.bid_id in seen:
            lose(f"bid {s.bid_id} was already acknowledged for {seen[s.bid_id]}")
            continue
        seen[s.bid_id] = key
        acked.setdefault(oc.tender_id, set()).add(s.bid_id)
        if int(body["received_ms"]) >= oc.deadline_ms or _late_s(oc):
            late.append(
                {
                    "tender_id": oc.tender_id,
                    "bid": key,
                    "bid_id": s.bid_id,
                    "received_ms": body["received_ms"],
                    "deadline_ms": oc.deadline_ms,
                    "sent_after_deadline_ms": oc.start_wall_ms - oc.deadline_ms,
                }
            )
        closing = closings.get(oc.tender_id)
        if closing is not None and s.bid_id not in set(closing.get("live_bids", [])):
            lose(f"bid {s.bid_id} is not among the closing record's live bids")
    extra = 0
    for tid, closing in closings.items():
        if closing is not None:
            extra += len(set(closing.get("live_bids", [])) - acked.get(tid, set()))
    return {
        "receipts_verified": verified,
        "lost_receipts": len(lost),
        "lost": lost[:200],
        "late_acceptances": len(late),
        "late": late[:200],
        "unacknowledged_in_closing": extra,
        "closing_missing": sorted(t for t, c in closings.items() if c is None),
        "acked": {t: sorted(v) for t, v in acked.items()},
    }


def run(opts: Options) -> dict[str, Any]:
    """Run the profile; returns the report (see docs/load_testing.md "Report schema")."""
    p = opts.profile
    opts.out.mkdir(parents=True, exist_ok=True)
    say = opts.progress or (lambda _l, _f: None)
    cache = BidCache(opts.cache, p, opts.pki if opts.url else None)
    if opts.url and opts.pki is None:
        raise LoadTestError("--url needs --pki DIR: the server's pki directory (its test CA issues the bidders)")
    if opts.pki is not None and not (opts.pki / "ca.key").is_file():
        raise LoadTestError(f"{opts.pki} holds no ca.key: pass the server's DATA/pki directory")
    cached = cache.ready()
    seal_s = cache.build(lambda m: say(m, False))
    r = Run(opts)
    r.start_server(cache)
    started = dt.datetime.now(dt.UTC)
    try:
        return _run(r, cache, cached, seal_s, started)
    finally:
        r.stop_server()


def _run(r: Run, cache: BidCache, cached: bool, seal_s: float, started: dt.datetime) -> dict[str, Any]:
    p = r.p
    say = r.say
    offset = r.measure_clock_offset()
    sched = schedule(p, cache.plan)
    tm = Timing.of(p)
    n_t = len(cache.plan)
    # deadlines are fixed at creation; leave time to write manifests and hash the bodies first (~150 MB/s)
    total_bytes = sum(b.nbytes for bids in cache.plan for b in bids)
    # ... and to re-address every envelope to its tender's opening key (copy + SM3 + SM2 wrap and signature)
    n_env = sum(len(b.sizes) for bids in cache.plan for b in bids)
    prep_est = 3.0 + total_bytes / 50e6 + 0.004 * len(sched) + 0.004 * n_env
    t0_wall = time.time() + prep_est + 0.5
    deadlines_ms = [int((t0_wall + tm.deadline(i, n_t)) * 1000) for i in range(n_t)]
    tenders = asyncio.run(r.create_tenders(cache, deadlines_ms))
    say(f"{n_t} tenders published on {r.url}; preparing {len(sched)} submissions", False)
    prep0 = time.perf_counter()
    packages: dict[str, Package] = {}
    plan_rows = []
    outcomes = []
    cache.clear_runs()
    opening = {t["id"]: [Certificate.from_pem(x.encode()) for x in t["opening_certificates"]] for t in tenders}
    for s, bid in sched:
        t = tenders[bid.tender]
        pkg = cache.package(bid, t["id"], opening[t["id"]])
        packages[bid.name] = pkg
        oc = Outcome(bid, t["id"], t["deadline_ms"], 0.0)
        outcomes.append(oc)
        plan_rows.append((s, oc, pkg, pkg.body_sm3(), cache.bidder(bid.slot), pkg.length()))
    prep_s = time.perf_counter() - prep0
    wait = t0_wall - time.time()
    start_lag = max(0.0, -wait)
    if wait > 0:
        time.sleep(wait)
    t0 = time.monotonic() - start_lag
    for row in plan_rows:
        row[1].sched_s = row[0]
    sampler = ServerSampler(r.url, r.proc.pid if r.proc is not None else None, t0)
    sampler.start()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    live = Live(t0)
    viewer_hist = LatencyHistogram()

    async def main() -> tuple[dict[str, dict[str, Any] | None], dict[str, dict[str, Any]], int]:
        drive = asyncio.create_task(r.drive(plan_rows, live))
        triggered = asyncio.Event()
        stop = asyncio.Event()

        async def open_at_deadline(t: dict[str, Any]) -> dict[str, Any]:
            # the deadline is the opening instant (DOMAIN.md): trigger then, retrying on too-early
            await asyncio.sleep(max(0.0, t["deadline_ms"] / 1000 - time.time()))
            o = await r.opening(cache, t, triggered)
            return o

        opens = [asyncio.create_task(open_at_deadline(t)) for t in tenders]
        all_opened = asyncio.ensure_future(asyncio.gather(*opens))
        n_bids = sum(1 for oc in outcomes if not oc.bid.probe)

        async def readers() -> int:
            waiter = asyncio.create_task(triggered.wait())
            await asyncio.wait([waiter, all_opened], return_when=asyncio.FIRST_COMPLETED)
            if not triggered.is_set():
                waiter.cancel()
                return 0
            return await r.viewers(tenders, n_bids, viewer_hist, stop)

        vt = asyncio.create_task(readers())
        await drive
        closings_l = await asyncio.gather(*(r.closing(t) for t in tenders))
        closings = {t["id"]: c for t, c in zip(tenders, closings_l, strict=True)}
        say("drive done; closing records fetched; waiting for the openings", False)
        done = await all_opened
        stop.set()
        reads = await vt
        return closings, {t["id"]: o for t, o in zip(tenders, done, strict=True)}, reads

    closings, openings, reads = asyncio.run(main())
    sampler.stop()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    say(f"verifying {live.ok} receipts offline", False)
    v0 = time.perf_counter()
    integrity = verify(outcomes, closings, cache, packages)
    integrity["verify_s"] = round(time.perf_counter() - v0, 3)
    opening = _opening_report(tenders, openings, integrity["acked"], viewer_hist, reads)
    report = _report(
        r,
        cache,
        cached,
        seal_s,
        prep_s,
        start_lag,
        offset,
        started,
        tenders,
        outcomes,
        live,
        closings,
        integrity,
        opening,
        sampler.summary(),
        ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime,
    )
    return report


def _opening_report(
    tenders: list[dict[str, Any]],
    openings: dict[str, dict[str, Any]],
    acked: dict[str, list[str]],
    viewer_hist: LatencyHistogram,
    reads: int,
) -> dict[str, Any]:
    if any(o["state"] == "unavailable" for o in openings.values()):
        return {
            "available": False,
            "note": OPENING_UNAVAILABLE + " (POST /tenders/{id}/opening answered 404)",
            "tenders": [],
            "unopened_acknowledged_bids": None,
            "viewer_requests": 0,
            "viewer_latency_ms": LatencyHistogram().summary(),
        }
    rows = []
    unopened = 0
    for t in tenders:
        o = openings.get(t["id"], {})
        dl = t["deadline_ms"]
        table_ids = {str(x.get("bid_id")) for x in o.get("table", []) if isinstance(x, dict)}
        failed_ids = {str(x.get("bid_id")) for x in o.get("failures", []) if isinstance(x, dict)}
        missing = sorted(set(acked.get(t["id"], [])) - table_ids)
        unopened += len(missing)
        rows.append(
            {
                "tender_id": t["id"],
                "state": o.get("state"),
                "problem": o.get("problem"),
                "summary_after_deadline_ms": o["summary_ms"] - dl if o.get("summary_ms") else None,
                "finished_after_deadline_ms": o["finished_ms"] - dl if o.get("finished_ms") else None,
                "started_after_deadline_ms": o["started_ms"] - dl if o.get("started_ms") else None,
                "rows": len(o.get("table", [])),
                "failures": len(failed_ids),
                "missing_acknowledged": missing[:50],
            }
        )
    return {
        "available": True,
        "note": "",
        "tenders": rows,
        "unopened_acknowledged_bids": unopened,
        "viewer_requests": reads,
        "viewer_latency_ms": viewer_hist.summary(),
    }


def _dist(vals: list[float]) -> dict[str, float | None]:
    if not vals:
        return {"p50": None, "max": None}
    v = sorted(vals)
    return {"p50": v[len(v) // 2], "max": v[-1]}


def _report(
    r: Run,
    cache: BidCache,
    cached: bool,
    seal_s: float,
    prep_s: float,
    start_lag: float,
    offset: float | None,
    started: dt.datetime,
    tenders: list[dict[str, Any]],
    outcomes: list[Outcome],
    live: Live,
    closings: dict[str, dict[str, Any] | None],
    integrity: dict[str, Any],
    opening: dict[str, Any],
    server: dict[str, Any],
    harness_cpu: float,
) -> dict[str, Any]:
    p = r.p
    bids = [oc for oc in outcomes if not oc.bid.probe]
    probes = [oc for oc in outcomes if oc.bid.probe]
    rejected: dict[str, int] = {}
    errors: dict[str, int] = {}
    for oc in bids:
        if oc.problem:
            rejected[oc.problem] = rejected.get(oc.problem, 0) + 1
        if oc.error:
            errors[oc.error] = errors.get(oc.error, 0) + 1
    offered: dict[int, int] = {}
    for oc in bids:
        offered[int(oc.sched_s)] = offered.get(int(oc.sched_s), 0) + 1
    span = max([k for k in live.buckets] + list(offered) + [0]) + 1
    series = []
    for k in range(span):
        b = live.buckets.get(k)
        h = b["hist"] if b else LatencyHistogram()
        series.append(
            {
                "t_s": k,
                "scheduled": offered.get(k, 0),
                "accepted": b["accepted"] if b else 0,
                "rejected": b["rejected"] if b else 0,
                "errors": b["errors"] if b else 0,
                "bytes": b["bytes"] if b else 0,
                "p50_ms": h.percentile_ms(50),
                "p99_ms": h.percentile_ms(99),
                "max_ms": float(h.h.get_max_value()) / 1000 if h.count else 0.0,
            }
        )
    accepted = [oc for oc in bids if oc.status is not None and 200 <= oc.status < 300]
    drive_s = max((oc.end_s for oc in outcomes), default=0.0)
    per_tender = []
    for t in tenders:
        mine = [oc for oc in bids if oc.tender_id == t["id"]]
        c = closings.get(t["id"])
        per_tender.append(
            {
                "tender_id": t["id"],
                "deadline_unix_ms": t["deadline_ms"],
                "bids_scheduled": len(mine),
                "accepted": sum(1 for oc in mine if oc.status is not None and 200 <= oc.status < 300),
                "closing_count": c.get("count") if c else None,
            }
        )
    op_rows = opening["tenders"]
    problems = []
    if integrity["lost_receipts"]:
        problems.append(f"{integrity['lost_receipts']} lost receipt(s)")
    if integrity["late_acceptances"]:
        problems.append(f"{integrity['late_acceptances']} late acceptance(s)")
    if integrity["closing_missing"]:
        problems.append(f"no closing record for {len(integrity['closing_missing'])} tender(s)")
    if opening["available"] and opening["unopened_acknowledged_bids"]:
        problems.append(f"{opening['unopened_acknowledged_bids']} acknowledged bid(s) missing from the opening")
    warnings = []
    if start_lag > 0.5:  # the run is still checked; its first arrivals were sent late (their latency shows it)
        warnings.append(f"the schedule started {start_lag:.1f} s late (preparation took longer than estimated)")
    probes_refused = sum(1 for oc in probes if oc.problem == "deadline-passed")
    return {
        "format": REPORT_FORMAT,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "started_at": started.isoformat(),
        "bidkernel_version": __version__,
        "profile": p,
        "target": {
            "url": r.url,
            "mode": "external" if r.o.url else "local",
            "server_pid": r.proc.pid if r.proc is not None else None,
            "clock_offset_ms": offset,
        },
        "machine": {
            "cpus": os.cpu_count() or 0,
            "platform": _platform.platform(),
            "python": _platform.python_version(),
        },
        "preparation": {
            "cache_dir": str(cache.dir),
            "cached": cached,
            "sealing_s": round(seal_s, 3),
            "hashing_s": round(prep_s, 3),
            "start_lag_s": round(start_lag, 3),
        },
        "counts": {
            "tenders": len(tenders),
            "scheduled": len(bids),
            "sent": sum(1 for oc in bids if oc.start_wall_ms),
            "accepted": len(accepted),
            "rejected": sum(rejected.values()),
            "errors": sum(errors.values()),
            "retries_overloaded": sum(oc.retries for oc in outcomes),
            "late_probes_sent": len(probes),
            "late_probes_refused": probes_refused,
            "missed_deadline_in_flight": sum(
                1 for oc in bids if oc.problem == "deadline-passed" and 0 < oc.start_wall_ms < oc.deadline_ms
            ),
        },
        "rejected_by_type": rejected,
        "errors_by_type": errors,
        "late_probes_by_outcome": _probe_outcomes(probes),
        "integrity": {k: v for k, v in integrity.items() if k not in ("acked", "verify_s")},
        "latency_ms": {
            "corrected": live.corrected.summary() | {"hdr": live.corrected.encode()},
            "uncorrected": live.uncorrected.summary() | {"hdr": live.uncorrected.encode()},
        },
        "histogram_ms": live.corrected.buckets(),
        "throughput": {
            "drive_s": round(drive_s, 3),
            "accepted_per_s": round(len(accepted) / drive_s, 3) if drive_s else 0.0,
            "bytes_accepted": sum(oc.nbytes for oc in accepted),
            "bytes_per_s": round(sum(oc.nbytes for oc in accepted) / drive_s, 1) if drive_s else 0.0,
            "peak_accepted_per_s": max((s["accepted"] for s in series), default=0),
            "peak_bytes_per_s": max((s["bytes"] for s in series), default=0),
        },
        "series": series,
        "tenders": per_tender,
        "opening": opening
        | {
            "summary_after_deadline_ms": _dist(
                [x["summary_after_deadline_ms"] for x in op_rows if x["summary_after_deadline_ms"] is not None]
            ),
            "finished_after_deadline_ms": _dist(
                [x["finished_after_deadline_ms"] for x in op_rows if x["finished_after_deadline_ms"] is not None]
            ),
        },
        "server": server,
        "harness": {
            "cpu_seconds": round(harness_cpu, 3),
            "verify_s": integrity.get("verify_s", 0.0),
            "note": "harness CPU from the start of the schedule to the end of the openings (sealing and receipt "
            "verification excluded); on a shared machine it competes with the server",
        },
        "verdict": {"ok": not problems, "problems": problems, "warnings": warnings},
    }


def _probe_outcomes(probes: list[Outcome]) -> dict[str, int]:
    out: dict[str, int] = {}
    for oc in probes:
        k = "accepted" if oc.status is not None and 200 <= oc.status < 300 else (oc.problem or oc.error or "?")
        out[k] = out.get(k, 0) + 1
    return out
