"""The HTTP surface: OpenAPI lists exactly the routes served, health, Prometheus metrics, 429 with
Retry-After under overload, problem+json everywhere, ledger checkpoints and proofs served and verifiable."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import orjson
from intake_support import Kernel, start_kernel

from bidkernel.api.kernel_routes import ENDPOINTS
from bidkernel.authn import sign_headers
from bidkernel.ledger.checkpoint import SM2NoteVerifier
from bidkernel.ledger.proofs import ConsistencyProof, InclusionProof
from bidkernel.platform import Limits
from bidkernel.problems import PROBLEMS


def test_openapi_lists_every_route(kernel: Kernel) -> None:
    doc = kernel.client().call("GET", "/openapi.json")
    served = set()
    for r in kernel.server.config.app.routes:  # type: ignore[attr-defined]
        for m in r.methods or ():
            if m != "HEAD" and not (r.path == "/tsa" and m != "POST"):  # other methods: 405 problem only
                served.add((m, r.path))
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    assert {(e.method, e.path) for e in ENDPOINTS} <= documented
    assert set(doc["x-problem-types"]) == set(PROBLEMS)


def test_problem_types_are_documented(repo_root: Path) -> None:
    text = (repo_root / "docs" / "protocol.md").read_text()
    for kind in PROBLEMS:
        assert f"`{kind}`" in text, kind


def test_health_metrics_and_unknown_route(kernel: Kernel) -> None:
    c = kernel.client()
    assert c.call("GET", "/healthz")["status"] == "ok"
    t = kernel.tender()
    kernel.client("b1").submit(t["id"], kernel.seal("b1", t["id"]))
    status, headers, body = c.raw("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert b"bidkernel_bids_received_total 1.0" in body
    assert b'bidkernel_http_requests_total{route="/tenders/{tender_id}/bids",status="201"} 1.0' in body


def test_unknown_route_and_wrong_method_are_problem_json(kernel: Kernel) -> None:
    c = kernel.client()
    for method, path, status, kind in (
        ("GET", "/no/such/route", 404, "not-found"),
        ("DELETE", "/healthz", 405, "method-not-allowed"),
    ):
        got, headers, body = c.raw(method, path, sign=False)
        assert got == status and headers["content-type"] == "application/problem+json", (path, headers)
        assert orjson.loads(body)["type"] == f"https://bidkernel.dev/problems/{kind}"
    _s, headers, _b = c.raw("DELETE", "/healthz", sign=False)
    assert "GET" in headers["allow"]


def test_ledger_checkpoint_and_proofs_verify(kernel: Kernel) -> None:
    k = kernel
    t = k.tender()
    for i in range(3):
        k.client(f"b{i}").submit(t["id"], k.seal(f"b{i}", t["id"]))
    k.platform.log.checkpoint()
    c = k.client()
    status, _h, note = c.raw("GET", "/ledger/checkpoint")
    assert status == 200 and note.decode().startswith(k.platform.log.origin + "\n")
    verifier = SM2NoteVerifier(k.platform.log.origin, k.platform.pki.platform.certificate.public_key)
    size = int(note.decode().split("\n")[1])
    p = InclusionProof.from_json(c.call("GET", f"/ledger/proof/inclusion?index=2&size={size}"))
    p.verify([verifier])
    cp = ConsistencyProof.from_json(c.call("GET", f"/ledger/proof/consistency?size1=1&size2={size}"))
    cp.verify([verifier])
    status, h, body = c.raw("GET", "/ledger/proof/inclusion?index=999")
    assert status == 400 and h["content-type"] == "application/problem+json"
    assert orjson.loads(body)["type"] == "https://bidkernel.dev/problems/bad-request"


def test_overload_gives_429_with_retry_after(tmp_path: Path) -> None:
    k = start_kernel(tmp_path, limits=Limits(max_in_flight=1, retry_after_s=2))
    try:
        t = k.tender()
        pkg = k.seal("b1", t["id"], size=100_000)
        b1 = k.ids["b1"]
        path = f"/tenders/{t['id']}/bids"
        h = sign_headers(b1.key, b1.certificate, "POST", path, body_sm3=pkg.body_sm3())
        body = b"".join(pkg.chunks())
        s = socket.create_connection(("127.0.0.1", int(k.url.rsplit(":", 1)[1])))
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{a}: {b}\r\n" for a, b in h.items()) + "\r\n"
        s.sendall(head.encode() + body[:1000])  # a slow upload holds the only slot
        time.sleep(0.3)
        status, headers, data = k.client().raw("GET", "/healthz")
        assert status == 429 and headers["retry-after"] == "2"
        assert orjson.loads(data)["type"] == "https://bidkernel.dev/problems/overloaded"
        s.sendall(body[1000:])
        reply = s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 201")
        s.close()
        time.sleep(0.1)
        assert k.client().raw("GET", "/healthz")[0] == 200
    finally:
        k.stop()
