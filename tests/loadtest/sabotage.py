"""A test-only reverse proxy on loopback in front of a real kernel, that misbehaves on purpose.

- ``replay_at``: the n-th bid submission (1-based) is never forwarded; the proxy answers it with the
  previous real 201 receipt (a genuine, verifiable receipt — for another bid).
- ``drop_at``: the n-th bid submission is forwarded and receipted, then the proxy withdraws that bid with
  the bidder's own key behind the harness's back, so it is missing from the closing record.

- ``opening``: answers the opening contract of docs/load_testing.md ("Opening contract") in front of a kernel
  that has no opening yet, from the kernel's real closing record (no decryption: the opening is built on its own
  branch); ``omit_from_table`` leaves the n-th live bid out of the 唱标 table. It exists to exercise the harness's
  opening phase, not to stand in for the opening.

Everything else is forwarded byte for byte to the real kernel.
"""

from __future__ import annotations

import base64
import http.client
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bidkernel.client import KernelClient
from bidkernel.crypto import sm2
from bidkernel.crypto.x509 import Certificate

_HOP = {"host", "content-length", "connection", "transfer-encoding"}


class SabotageProxy:
    def __init__(
        self,
        upstream_port: int,
        ids_dir: Path,
        *,
        replay_at: int = 0,
        drop_at: int = 0,
        opening: bool = False,
        omit_from_table: int | None = None,
    ) -> None:
        self.opening, self.omit = opening, omit_from_table
        self.openings: dict[str, dict[str, Any]] = {}
        self.up = upstream_port
        self.ids_dir = ids_dir
        self.replay_at, self.drop_at = replay_at, drop_at
        self.bids = 0
        self.last_receipt: tuple[int, bytes] | None = None
        self.sabotaged: dict[str, Any] = {}
        self.lock = threading.Lock()

    def _identity(self, cert_b64: str) -> tuple[sm2.PrivateKey, Certificate]:
        der = base64.b64decode(cert_b64)
        for pem in self.ids_dir.glob("bidder-*.pem"):
            c = Certificate.load(pem.read_bytes())
            if c.der == der:
                return sm2.load_private_key(pem.with_suffix(".key").read_bytes()), c
        raise LookupError("unknown bidder")

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.up, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, {k: v for k, v in r.getheaders() if k.lower() not in _HOP}, r.read()
        finally:
            conn.close()

    async def _opening(self, req: Request, tid: str) -> Response:
        import orjson
        from starlette.concurrency import run_in_threadpool

        now = time.time_ns() // 1_000_000
        if req.method == "POST":
            if "bk-signature" not in req.headers:
                return Response(b'{"type": "https://bidkernel.dev/problems/unauthenticated"}', status_code=401)
            status, _h, data = await run_in_threadpool(self._forward, "GET", f"/tenders/{tid}/closing", {}, b"")
            if status != 200:
                return Response(
                    b'{"type": "https://bidkernel.dev/problems/too-early", "status": 409}',
                    status_code=409,
                    media_type="application/problem+json",
                )
            live = orjson.loads(data)["live_bids"]
            table = [{"bid_id": b} for i, b in enumerate(live) if i != self.omit]
            self.openings.setdefault(
                tid,
                {
                    "tender_id": tid,
                    "state": "opening",
                    "started_ms": now,
                    "summary_ms": now + 40,
                    "finished_ms": now + 150,
                    "table": table,
                    "failures": [],
                    "record_index": None,
                },
            )
            return Response(orjson.dumps(self.openings[tid]), status_code=202, media_type="application/json")
        doc = self.openings.get(tid)
        if doc is None:
            doc = {
                "tender_id": tid,
                "state": "waiting",
                "started_ms": None,
                "summary_ms": None,
                "finished_ms": None,
                "table": [],
                "failures": [],
                "record_index": None,
            }
        elif now >= doc["finished_ms"]:
            doc["state"] = "opened"
        return Response(orjson.dumps(doc), media_type="application/json")

    async def handle(self, req: Request) -> Response:
        parts = req.url.path.strip("/").split("/")
        if self.opening and len(parts) == 3 and parts[0] == "tenders" and parts[2] == "opening":
            return await self._opening(req, parts[1])
        body = await req.body()
        headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP}
        path = req.url.path + (f"?{req.url.query}" if req.url.query else "")
        is_bid = req.method == "POST" and req.url.path.endswith("/bids")
        n = 0
        if is_bid:
            with self.lock:
                self.bids += 1
                n = self.bids
            if n == self.replay_at and self.last_receipt is not None:
                self.sabotaged["replayed"] = n
                status, data = self.last_receipt
                return Response(data, status_code=status, media_type="application/json")
        from starlette.concurrency import run_in_threadpool

        status, rh, data = await run_in_threadpool(self._forward, req.method, path, headers, body)
        if is_bid and status == 201:
            self.last_receipt = (status, data)
            if n == self.drop_at:
                import orjson

                bid_id = orjson.loads(data)["body"]["bid_id"]
                key, cert = self._identity(req.headers["bk-cert"])
                kc = KernelClient(f"http://127.0.0.1:{self.up}", key, cert)
                await run_in_threadpool(kc.call, "POST", f"/bids/{bid_id}/withdraw")
                self.sabotaged["dropped"] = bid_id
        return Response(data, status_code=status, headers=rh)


def start_proxy(proxy: SabotageProxy, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    app = Starlette(routes=[Route("/{path:path}", proxy.handle, methods=["GET", "POST"])])
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    end = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > end:
            raise RuntimeError("proxy did not start")
        time.sleep(0.02)
    return srv, th
