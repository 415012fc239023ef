"""A test-only reverse proxy on loopback in front of a real kernel, that misbehaves on purpose.

- ``replay_at``: the n-th bid submission (1-based) is never forwarded; the proxy answers it with the
  previous real 201 receipt (a genuine, verifiable receipt — for another bid).
- ``drop_at``: the n-th bid submission is forwarded and receipted, then the proxy withdraws that bid with
  the bidder's own key behind the harness's back, so it is missing from the closing record.

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
    def __init__(self, upstream_port: int, ids_dir: Path, *, replay_at: int, drop_at: int) -> None:
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

    async def handle(self, req: Request) -> Response:
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
