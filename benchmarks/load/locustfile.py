"""Locust load generation for bidkernel, with the bid generator of ``bidkernel loadtest`` (docs/load_testing.md).

Run ``distributed.py setup`` first (it seals the bids, creates the tenders and writes run.json), then one
master and N workers with ``LOADTEST_RUN=run.json LOADTEST_WORKERS=N`` (run_distributed.sh does it all).

Open model on top of Locust's closed user loop: worker i of N owns submissions i, i+N, ...; its users take
the next one, sleep until its scheduled time and send it, so arrivals keep the schedule whatever the
server does (as long as there are more users than submissions in flight). The response time reported to
Locust is measured from the *scheduled* start (coordinated-omission corrected); the raw send-to-receipt
time goes to the results file beside it. Every outcome (receipt included) is appended to
``results-<worker>.jsonl`` for ``distributed.py verify``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from locust import User, events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner

from bidkernel.client import KernelClient, Package
from bidkernel.loadtest.generator import BidCache

_state: dict[str, Any] = {}
_lock = threading.Lock()


@events.init.add_listener
def _init(environment: Any, **_kw: Any) -> None:
    run = os.environ.get("LOADTEST_RUN")
    if not run or not isinstance(environment.runner, WorkerRunner):
        return  # the master only aggregates
    doc = orjson.loads(Path(run).read_bytes())
    n = int(os.environ.get("LOADTEST_WORKERS", "1"))
    idx = int(environment.runner.worker_index)
    cache = BidCache(Path(doc["cache_dir"]).parent, doc["profile"], Path(doc["pki"]))
    mine = [s for i, s in enumerate(doc["submissions"]) if i % n == idx]
    _state.update(doc=doc, cache=cache, queue=mine, idx=idx, out=open(Path(run).parent / f"results-{idx}.jsonl", "ab"))


def _next() -> dict[str, Any] | None:
    with _lock:
        q = _state.get("queue")
        return q.pop(0) if q else None


class Bidder(User):
    """One bidder tool; a user handles one submission at a time, many users per worker."""

    @task
    def submit(self) -> None:
        s = _next()
        if s is None:
            raise StopUser()
        doc, cache = _state["doc"], _state["cache"]
        due = doc["t0_unix"] + s["sched_s"]
        if due > time.time():
            time.sleep(due - time.time())  # gevent-patched: yields to the other users
        who = cache.bidder(s["slot"])
        # the envelopes re-addressed to this tender's opening key by ``distributed.py setup``
        d = cache.dir / "run" / s["tender_id"] / s["bid"]
        pkg = Package(d if d.is_dir() else cache.bids_dir / s["bid"], s["manifest"], orjson.dumps(s["manifest"]))
        kc = KernelClient(doc["url"], who.key, who.certificate, timeout=120)
        start_wall = time.time_ns() // 1_000_000
        t_send = time.time()
        status, problem, error, receipt = None, None, None, None
        try:
            st, _h, data = kc.raw(
                "POST",
                f"/tenders/{s['tender_id']}/bids",
                pkg.chunks(),
                length=s["length"],
                body_sm3=s["body_sm3"],
                headers={"Content-Type": "application/vnd.bidkernel.bid-package"},
            )
            status = st
            body = orjson.loads(data) if data else None
            if 200 <= st < 300:
                receipt = body
            else:
                problem = str((body or {}).get("type", f"http-{st}")).rsplit("/", 1)[-1]
        except (OSError, orjson.JSONDecodeError) as exc:
            error = type(exc).__name__
        end = time.time()
        corrected = end - due
        events.request.fire(
            request_type="POST",
            name="probe (after deadline)" if s["probe"] else "bid",
            response_time=corrected * 1000,
            response_length=s["length"],
            context={},
            exception=None
            if status is not None and (200 <= status < 300) != s["probe"]
            else RuntimeError(problem or error),
        )
        line = {
            "bid": s["bid"],
            "worker": _state["idx"],
            "start_wall_ms": start_wall,
            "status": status,
            "problem": problem,
            "error": error,
            "receipt": receipt,
            "corrected_s": corrected,
            "uncorrected_s": end - t_send,
        }
        with _lock:
            _state["out"].write(orjson.dumps(line) + b"\n")
            _state["out"].flush()
