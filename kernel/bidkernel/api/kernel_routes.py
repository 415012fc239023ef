"""The kernel's HTTP API (docs/api.md): tenders, streamed sealed-bid intake, receipts, ledger proofs,
health, metrics and the OpenAPI document — all from one route table, so the OpenAPI document lists
exactly the routes served.

Every route goes through one wrapper: a bounded in-flight counter (429 + Retry-After past it), request
authentication (:mod:`bidkernel.authn`; SM3 of small bodies checked before the handler runs),
problem+json for every refusal (RFC 9457, types from :mod:`bidkernel.problems`) and Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bidkernel import __version__
from bidkernel.api.problem import error_response, problem
from bidkernel.api.tsa_routes import tsa_routes
from bidkernel.authn import Authenticator, Principal
from bidkernel.crypto.sm3 import sm3
from bidkernel.crypto.x509 import Certificate
from bidkernel.intake import IntakeService
from bidkernel.ledger.errors import LedgerError
from bidkernel.platform import Platform, utc_ms
from bidkernel.problems import PROBLEMS, KernelError
from bidkernel.ratelimit import RateLimiter
from bidkernel.roles import RoleRegistry, entry_json
from bidkernel.store import fsyncs
from bidkernel.store.base import BidRow
from bidkernel.tenders import TenderService, check_id, effective_state, load_doc
from bidkernel.timestamp.errors import UntrustedTimeError

log = logging.getLogger("bidkernel.api")

Handler = Callable[[Request, "Ctx", Principal | None], Awaitable[Response]]


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


@dataclass
class Ctx:
    p: Platform
    auth: Authenticator
    tenders: TenderService
    intake: IntakeService
    registry: CollectorRegistry
    roles: RoleRegistry
    rate: RateLimiter
    in_flight: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    plugins: Any = None  # bidkernel.plugins.host.PluginHost (set by create_kernel_app)
    endpoints: list[Endpoint] = field(default_factory=list)  # kernel + plugin routes (for OpenAPI)
    extras: dict[str, Any] = field(default_factory=dict)  # per-app services of other modules (the opening)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    access: str  # "public", "optional" (public, more with a signature), "signed"
    roles: tuple[str, ...] = ()
    streamed: bool = False
    params: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------- handlers
async def healthz(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    st = ctx.p.clock.status()
    ok = st.trusted
    return _json({"status": "ok" if ok else "degraded", "trusted_time": ok, "ledger_size": ctx.p.log.size},
                 200 if ok else 503)  # fmt: skip


async def metrics(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    return _json(openapi_document(ctx.endpoints or None))


async def platform_info(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    pki = ctx.p.pki
    return _json({
        "version": __version__,
        "platform_certificate": pki.platform.certificate.to_pem().decode(),
        "root_certificate": pki.ca.root.certificate.to_pem().decode(),
        "tsa_certificate": pki.tsa.certificate.to_pem().decode(),
        "log_origin": ctx.p.log.origin,
        "time": utc_ms(ctx.p.now_ms()),
    })  # fmt: skip


async def ledger_checkpoint(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    cp = await run_in_threadpool(ctx.p.log.latest_checkpoint)
    if cp is None:
        raise KernelError("not-found", "no checkpoint yet")
    return Response(cp.note, media_type="text/plain; charset=utf-8")


def _int_param(req: Request, name: str, required: bool = True) -> int | None:
    v = req.query_params.get(name)
    if v is None:
        if required:
            raise KernelError("bad-request", f"query parameter {name} is required")
        return None
    if not v.isdigit() or len(v) > 15:
        raise KernelError("bad-request", f"{name} must be a non-negative integer")
    return int(v)


async def ledger_inclusion(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    index = _int_param(req, "index")
    size = _int_param(req, "size", False)
    assert index is not None
    try:
        proof = await run_in_threadpool(ctx.p.log.inclusion_proof, index, size)
    except LedgerError as exc:
        raise KernelError("bad-request", str(exc)) from None
    doc = proof.to_json()
    if who is None or who.role != "supervisor":
        doc.pop("leaf", None)  # leaf bytes name bidders: only the receipt holder and supervisors see them
    return _json(doc)


async def ledger_consistency(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    s1 = _int_param(req, "size1")
    s2 = _int_param(req, "size2", False)
    assert s1 is not None
    try:
        proof = await run_in_threadpool(ctx.p.log.consistency_proof, s1, s2)
    except LedgerError as exc:
        raise KernelError("bad-request", str(exc)) from None
    return _json(proof.to_json())


async def _body_json(req: Request, ctx: Ctx) -> Any:
    body = req.state.body
    try:
        return orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        raise KernelError("bad-request", "the body is not JSON") from None


async def tenders_list(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    return _json(await run_in_threadpool(ctx.tenders.list_visible, who))


async def tender_create(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    doc = await run_in_threadpool(ctx.tenders.create, who, await _body_json(req, ctx))
    return _json(ctx.tenders.public_view(doc, ctx.p.now_ms()), 201)


def _tender_id(req: Request) -> str:
    return check_id(str(req.path_params["tender_id"]), "tender")


async def tender_get(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    doc = await run_in_threadpool(ctx.tenders.get, _tender_id(req))
    if not ctx.tenders.visible(doc, who):
        raise KernelError("not-found", "no such tender")
    return _json(ctx.tenders.public_view(doc, ctx.p.now_ms()))


async def tender_publish(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    doc = await run_in_threadpool(ctx.tenders.publish, who, _tender_id(req))
    return _json(ctx.tenders.public_view(doc, ctx.p.now_ms()))


async def tender_amend(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    doc = await run_in_threadpool(ctx.tenders.amend, who, _tender_id(req), await _body_json(req, ctx))
    return _json(ctx.tenders.public_view(doc, ctx.p.now_ms()), 201)


def _bid_view(b: BidRow, doc: dict[str, Any], show_org: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": b.id,
        "tender_id": b.tender_id,
        "status": b.status,
        "received_at": utc_ms(b.received_ms),
        "log_index": b.log_index,
        "replaces": b.replaces,
        "lot": b.lot,
        "envelopes": [{k: x[k] for k in ("name", "sm3", "size")} for x in orjson.loads(b.manifest)],
        "before_amendment": b.amendment_seq < len(doc["amendments"]),
    }
    if show_org:
        out["bidder_org"] = b.bidder_org
    return out


def _may_see_all_bids(who: Principal, doc: dict[str, Any], now_ms: int) -> bool:
    if who.role == "supervisor":
        return True
    # the agency sees who bid only once the deadline has passed (no disclosure before the opening)
    after_deadline = effective_state(doc, now_ms) in ("closed", "opening", "opened", "failed")
    return who.role == "agency" and who.org == doc["agency_org"] and after_deadline


async def tender_bids(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    doc = await run_in_threadpool(ctx.tenders.get, _tender_id(req))
    if not ctx.tenders.visible(doc, who):
        raise KernelError("not-found", "no such tender")
    now = ctx.p.now_ms()
    with ctx.p.store.reader() as r:
        if who.role == "bidder":
            rows = r.bids_of_tender(doc["id"], bidder_fp=who.fp)
        elif _may_see_all_bids(who, doc, now):
            rows = r.bids_of_tender(doc["id"])
        else:
            raise KernelError("forbidden", "bids are not disclosed to this role before the deadline")
    return _json([_bid_view(b, doc, who.role != "bidder") for b in rows])


async def bid_submit(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    cl = req.headers.get("content-length")
    length = int(cl) if cl is not None and cl.isdigit() else None
    cert = _caller_cert(req, ctx, who)
    receipt = await ctx.intake.submit(
        who,
        _tender_id(req),
        req.stream(),
        content_length=length,
        declared_sm3=req.headers.get("bk-content-sm3", ""),
        bidder_cert=cert,
        lot=req.query_params.get("lot"),
    )
    ctx.metrics["bids"].inc()
    ctx.metrics["bytes"].inc(sum(int(e["size"]) for e in receipt["body"]["envelopes"]))
    return _json(receipt, 201)


def _caller_cert(req: Request, ctx: Ctx, who: Principal) -> Certificate:
    import base64

    if "bk-cert" in req.headers:
        return Certificate.from_der(base64.b64decode(req.headers["bk-cert"]))
    with ctx.p.store.reader() as r:
        der = r.certificate_get(who.fp)
    assert der is not None
    return Certificate.from_der(der)


def _bid_for(ctx: Ctx, req: Request, who: Principal) -> tuple[BidRow, dict[str, Any]]:
    bid_id = check_id(str(req.path_params["bid_id"]), "bid")
    with ctx.p.store.reader() as r:
        bid = r.bid_get(bid_id)
    if bid is None:
        raise KernelError("not-found", "no such bid")
    doc = ctx.tenders.get(bid.tender_id)
    if who.role == "bidder" and bid.bidder_fp == who.fp:
        return bid, doc
    if who.role != "bidder" and _may_see_all_bids(who, doc, ctx.p.now_ms()):
        return bid, doc
    raise KernelError("not-found", "no such bid")  # never confirm that another party's bid exists


async def bid_get(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    bid, doc = await run_in_threadpool(_bid_for, ctx, req, who)
    return _json(_bid_view(bid, doc, who.role != "bidder"))


async def bid_receipt(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    bid, _doc = await run_in_threadpool(_bid_for, ctx, req, who)
    if who.role == "agency":
        raise KernelError("forbidden", "receipts go to the bidder and the supervisor")
    data, stored = await run_in_threadpool(ctx.intake.stored_receipt, bid)
    resp = Response(data, media_type="application/json")
    resp.headers["Bk-Receipt"] = "as-issued" if stored else "issued-now"
    return resp


async def bid_withdraw(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    bid_id = str(req.path_params["bid_id"])
    return _json(await run_in_threadpool(ctx.intake.withdraw, who, bid_id))


async def tender_closing(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    tid = _tender_id(req)
    doc = await run_in_threadpool(ctx.tenders.get, tid)
    if not ctx.tenders.visible(doc, who):
        raise KernelError("not-found", "no such tender")
    due = doc["state"] == "published" and effective_state(doc, ctx.p.now_ms()) == "closed"
    if due:
        await run_in_threadpool(ctx.tenders.seal_due)
    closing = await run_in_threadpool(ctx.tenders.closing, tid)
    if closing is None and due:  # sealed at the deadline, but the closing record's time stamp failed
        raise KernelError("timestamp-unavailable", "the closing record waits for the timestamp source (retried)")
    if closing is None:
        raise KernelError("tender-state", "the tender is not sealed yet (its deadline has not passed)")
    return _json(closing)


async def revoke(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    if who.role != "operator":
        raise KernelError("forbidden", "only the platform operator manages revocations")
    body = await _body_json(req, ctx)
    fp = body.get("fingerprint") if isinstance(body, dict) else None
    if not isinstance(fp, str) or len(fp) != 64:
        raise KernelError("bad-request", "send {fingerprint: 64 hex digits, reason}")
    await run_in_threadpool(ctx.p.revoke, fp.lower(), str(body.get("reason", "")))
    ctx.auth._chain_ok.pop(fp.lower(), None)
    return _json({"revoked": fp.lower()}, 201)


async def admin_outbox(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    from bidkernel.plugins.delivery import outbox_view

    state = req.query_params.get("state", "all")
    if state not in ("all", "pending", "dead"):
        raise KernelError("bad-request", "state: all, pending or dead")
    after = _int_param(req, "after", False) or 0
    limit = min(_int_param(req, "limit", False) or 100, 1000)
    return _json(await run_in_threadpool(outbox_view, ctx.p, state=state, after_id=after, limit=limit))


async def admin_outbox_replay(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    from bidkernel.plugins.delivery import replay

    raw = str(req.path_params["event_id"])
    if not raw.isdigit() or len(raw) > 15:
        raise KernelError("not-found", "no such outbox event")
    body = await _body_json(req, ctx)
    plugin = body.get("plugin") if isinstance(body, dict) else None
    if plugin is not None and not isinstance(plugin, str):
        raise KernelError("bad-request", "plugin: a plugin name")
    n = await run_in_threadpool(replay, ctx.p, int(raw), plugin)
    return _json({"event_id": int(raw), "replayed": n}, 202 if n else 200)


async def admin_plugins(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    host = ctx.plugins
    return _json({
        "plugins": [{"name": i.name, "distribution": i.distribution, "version": i.version, "hooks": list(i.hooks),
                     "builtin": i.builtin} for i in host.info()],
        "failures": [{"name": f.name, "error": f.error} for f in host.failures],
    })  # fmt: skip


async def roles_list(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    if who.role not in ("operator", "supervisor"):
        raise KernelError("forbidden", "the role registry is for the operator (and supervisors, read-only)")
    return _json([entry_json(e) for e in await run_in_threadpool(ctx.roles.list)])


async def roles_change(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    entry = await run_in_threadpool(ctx.roles.change, who, await _body_json(req, ctx))
    return _json(entry_json(entry), 201)


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/healthz", healthz, "Liveness and trusted-time status", "public"),
    Endpoint("GET", "/metrics", metrics, "Prometheus metrics", "public"),
    Endpoint("GET", "/openapi.json", openapi, "This OpenAPI document", "public"),
    Endpoint("GET", "/platform", platform_info, "Platform, root and TSA certificates; log origin", "public"),
    Endpoint("GET", "/ledger/checkpoint", ledger_checkpoint, "Latest signed checkpoint (signed note)", "public"),
    Endpoint("GET", "/ledger/proof/inclusion", ledger_inclusion, "RFC 9162 inclusion proof", "optional",
             params=("index", "size")),
    Endpoint("GET", "/ledger/proof/consistency", ledger_consistency, "RFC 9162 consistency proof", "public",
             params=("size1", "size2")),
    Endpoint("GET", "/tenders", tenders_list, "Published tenders (drafts to their agency)", "optional"),
    Endpoint("POST", "/tenders", tender_create, "Create a draft tender", "signed", ("agency",)),
    Endpoint("GET", "/tenders/{tender_id}", tender_get, "A tender's public information", "optional"),
    Endpoint("POST", "/tenders/{tender_id}/publish", tender_publish, "Publish: fixes opening keys and custody",
             "signed", ("agency",)),
    Endpoint("POST", "/tenders/{tender_id}/amendments", tender_amend, "Amend (更正), may move the deadline",
             "signed", ("agency",)),
    Endpoint("GET", "/tenders/{tender_id}/bids", tender_bids, "Bids: own (bidder); all after the deadline "
             "(agency); all (supervisor)", "signed", ("bidder", "agency", "supervisor")),
    Endpoint("POST", "/tenders/{tender_id}/bids", bid_submit, "Submit a sealed bid package (streamed); ?lot=",
             "signed", ("bidder",), streamed=True, params=("lot",)),
    Endpoint("GET", "/tenders/{tender_id}/closing", tender_closing, "The closing record (after the deadline)",
             "optional"),
    Endpoint("GET", "/bids/{bid_id}", bid_get, "One bid's metadata", "signed", ("bidder", "agency", "supervisor")),
    Endpoint("GET", "/bids/{bid_id}/receipt", bid_receipt, "A bid's receipt, the bytes as issued", "signed",
             ("bidder", "supervisor")),
    Endpoint("POST", "/bids/{bid_id}/withdraw", bid_withdraw, "Withdraw (撤回) before the deadline", "signed",
             ("bidder",)),
    Endpoint("POST", "/admin/revocations", revoke, "Revoke a certificate by SM3 fingerprint", "signed",
             ("operator",)),
    Endpoint("GET", "/admin/outbox", admin_outbox, "Outbox events and per-plugin delivery (state=all|pending|dead)",
             "signed", ("operator", "supervisor"), params=("after", "limit")),
    Endpoint("POST", "/admin/outbox/{event_id}/replay", admin_outbox_replay, "Replay a dead-lettered event",
             "signed", ("operator",)),
    Endpoint("GET", "/admin/plugins", admin_plugins, "Loaded plugins, versions, hooks, load failures", "signed",
             ("operator", "supervisor")),
    Endpoint("GET", "/admin/roles", roles_list, "The role registry", "signed", ("operator", "supervisor")),
    Endpoint("POST", "/admin/roles", roles_change, "Grant or revoke a certificate's role (ledger event)", "signed",
             ("operator",)),
]  # fmt: skip

from bidkernel.api import opening_routes  # noqa: E402  (its handlers use Ctx and Endpoint above)

ENDPOINTS += opening_routes.opening_endpoints()


def openapi_document(endpoints: list[Endpoint] | None = None) -> dict[str, Any]:
    """OpenAPI 3.1 from :data:`ENDPOINTS` or the given list (kernel and plugin routes), and POST /tsa."""
    paths: dict[str, Any] = {}
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for e in ENDPOINTS if endpoints is None else endpoints:
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in ("tender_id", "bid_id", "event_id", "envelope")
            if "{" + n + "}" in e.path
        ] + [{"name": n, "in": "query", "schema": {"type": "string" if n == "lot" else "integer"}} for n in e.params]
        op: dict[str, Any] = {
            "summary": e.summary,
            "operationId": e.handler.__name__,
            "responses": {
                "200": {"description": "OK"},
                "default": {"description": "problem", "content": {"application/problem+json": {"schema": problem_ref}}},
            },
            "x-access": e.access,
        }
        if e.roles:
            op["x-roles"] = list(e.roles)
        if e.access == "signed":
            op["security"] = [{"bkSm2": []}]
        if params:
            op["parameters"] = params
        if e.streamed:
            op["requestBody"] = {"content": {"application/vnd.bidkernel.bid-package": {}}}
        paths.setdefault(e.path, {})[e.method.lower()] = op
    paths["/tsa"] = {
        "post": {
            "summary": "RFC 3161 time-stamp request",
            "operationId": "tsa",
            "requestBody": {"content": {"application/timestamp-query": {}}},
            "responses": {"200": {"description": "application/timestamp-reply"}},
            "x-access": "public",
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "bidkernel", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                }
            },
            "securitySchemes": {
                "bkSm2": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Bk-Signature",
                    "description": "SM2-signed request; see docs/protocol.md 'Request authentication'",
                }
            },
        },
        "x-problem-types": {k: {"status": s, "title": t} for k, (s, t) in PROBLEMS.items()},
    }


def _wrap(e: Endpoint, ctx: Ctx) -> Callable[[Request], Awaitable[Response]]:
    route_label = e.path

    async def endpoint(req: Request) -> Response:
        t0 = time.perf_counter()
        if ctx.in_flight >= ctx.p.limits.max_in_flight:
            ctx.metrics["requests"].labels(route_label, "429").inc()
            return error_response(
                KernelError("overloaded", f"{ctx.in_flight} requests in flight"),
                {"Retry-After": str(ctx.p.limits.retry_after_s)},
            )
        ctx.in_flight += 1
        ctx.metrics["in_flight"].set(ctx.in_flight)
        try:
            resp = await _run(e, ctx, req)
            if e.streamed and resp.status_code >= 400 and resp.status_code not in (429, 503):
                await _drain(req)
        finally:
            ctx.in_flight -= 1
            ctx.metrics["in_flight"].set(ctx.in_flight)
        ctx.metrics["requests"].labels(route_label, str(resp.status_code)).inc()
        ctx.metrics["latency"].labels(route_label).observe(time.perf_counter() - t0)
        return resp

    return endpoint


# A refused upload (deadline passed, forbidden, malformed, ...) is usually refused before its body is read. If the
# connection then closes with the body unread (the client sent `Connection: close`), the TCP stack answers the
# rest of the body with a reset, and a client that writes the whole body before reading (http.client, the load
# generator once a write fails) sees "connection reset" instead of the problem it was sent. So the
# rest of the body is read and discarded first, as a keep-alive connection does anyway, for at most this long
# (nginx's `lingering_time` default); a client still sending after that is cut off as before. Not when shedding
# load (429 rate-limited, 503): there the slot is freed at once.
DRAIN_SECONDS = 30.0


async def _drain(req: Request) -> None:
    if req.headers.get("expect", "").lower() == "100-continue":
        # The client (curl above 1 MiB) waits for "100 Continue" before sending the body, and the HTTP server
        # sends that on the first read: reading here would make it upload everything just to be refused.
        return

    async def discard() -> None:
        async for _chunk in req.stream():
            pass

    # "Stream consumed" (RuntimeError): the handler read it all; ClientDisconnect: nothing left to read.
    with contextlib.suppress(ClientDisconnect, RuntimeError, TimeoutError):
        await asyncio.wait_for(discard(), DRAIN_SECONDS)


async def _run(e: Endpoint, ctx: Ctx, req: Request) -> Response:
    try:
        who: Principal | None = None
        if e.access != "public":
            who = await run_in_threadpool(
                ctx.auth.authenticate, req.method, req.url.path, req.url.query, dict(req.headers)
            )
            if who is None and e.access == "signed":
                raise KernelError("unauthenticated", "sign the request with your SM2 certificate")
            if who is not None:
                wait = ctx.rate.take(who.fp)
                if wait:
                    ctx.metrics["rate_limited"].inc()
                    return error_response(
                        KernelError("rate-limited", f"more than {ctx.p.limits.client_rate:g} requests/s "
                                    f"(burst {ctx.p.limits.client_burst}) from this certificate"),
                        {"Retry-After": str(wait)},
                    )  # fmt: skip
            if who is not None and e.roles and who.role not in e.roles:
                raise KernelError("forbidden", f"not available to the {who.role} role")
        if not e.streamed:
            body = bytearray()
            cl = req.headers.get("content-length")
            if cl is not None and cl.isdigit() and int(cl) > ctx.p.limits.max_json_bytes:
                raise KernelError("payload-too-large", f"bodies here are at most {ctx.p.limits.max_json_bytes} bytes")
            async for chunk in req.stream():
                body += chunk
                if len(body) > ctx.p.limits.max_json_bytes:
                    raise KernelError(
                        "payload-too-large", f"bodies here are at most {ctx.p.limits.max_json_bytes} bytes"
                    )
            if who is not None and sm3(bytes(body)).hex() != req.headers.get("bk-content-sm3"):
                raise KernelError("body-digest-mismatch", "SM3 of the body differs from Bk-Content-SM3")
            req.state.body = bytes(body)
        return await e.handler(req, ctx, who)
    except KernelError as exc:
        return error_response(exc)
    except UntrustedTimeError as exc:
        return error_response(KernelError("untrusted-time", str(exc)))
    except ClientDisconnect:
        return error_response(KernelError("truncated-upload", "the client disconnected"))
    except Exception:
        log.exception("unhandled error on %s %s", req.method, e.path)
        return error_response(KernelError("internal", "see the server log"))


class _FsyncCollector(Collector):
    """``bidkernel_fsync_total{kind}`` from :mod:`bidkernel.store.fsyncs` (read at scrape time)."""

    def collect(self) -> Iterator[Metric]:
        c = CounterMetricFamily("bidkernel_fsync", "fsyncs the kernel asked for", labels=["kind"])
        for kind, n in sorted(fsyncs.snapshot().items()):
            c.add_metric([kind], n)
        yield c


def _metrics(registry: CollectorRegistry) -> dict[str, Any]:
    registry.register(_FsyncCollector())
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes
    return {
        "requests": Counter("bidkernel_http_requests", "HTTP requests", ["route", "status"], registry=registry),
        "latency": Histogram("bidkernel_http_request_seconds", "Request latency", ["route"], registry=registry),
        "in_flight": Gauge("bidkernel_http_in_flight", "Requests in flight", registry=registry),
        "bids": Counter("bidkernel_bids_received", "Bids accepted (receipted)", registry=registry),
        "bytes": Counter("bidkernel_bid_bytes_received", "Envelope bytes accepted", registry=registry),
        "rate_limited": Counter("bidkernel_rate_limited", "Requests refused by a per-client limit", registry=registry),
    }


def _plugin_endpoint(name: str, r: Any) -> Endpoint:
    """A plugin route as an :class:`Endpoint`: same authentication, limits and problem answers."""
    import inspect

    from bidkernel.plugins.contract import Caller, RouteCall

    async def handler(req: Request, ctx: Ctx, who: Principal | None) -> Response:
        call = RouteCall(
            req.method, req.url.path, {k: str(v) for k, v in req.path_params.items()}, dict(req.query_params),
            req.state.body, None if who is None else Caller(who.role, who.org, who.fp), ctx.plugins.handle(name),
        )  # fmt: skip
        if inspect.iscoroutinefunction(r.handler):
            result = await r.handler(call)
        else:
            result = await run_in_threadpool(r.handler, call)
            if inspect.isawaitable(result):
                result = await result
        status = 200
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            status, result = result
        return _json(result, status)

    words = "".join(c if c.isalnum() else " " for c in r.path).split()
    handler.__name__ = "_".join(["plugin", name, r.method.lower(), *words])  # the OpenAPI operationId
    return Endpoint(r.method.upper(), f"/plugins/{name}{r.path}", handler, r.summary or f"plugin {name}",
                    r.access, tuple(r.roles))  # fmt: skip


def create_kernel_app(
    platform: Platform,
    *,
    seal_interval_s: float = 0.2,
    opening_tick_s: float = 1.0,
    plugins: Any = None,
    delivery: Any = None,
) -> Starlette:
    """The kernel app over ``platform``: every route of :data:`ENDPOINTS` plus ``POST /tsa``, the routes of
    the plugins (``plugins``, a :class:`~bidkernel.plugins.host.PluginHost`; by default only the built-in
    defaults — ``bidkernel serve`` passes the entry-point plugins the environment allows) under
    ``/plugins/<name>/``, and the outbox deliverer in the background (``delivery``, a
    :class:`~bidkernel.plugins.delivery.DeliveryPolicy`)."""
    from bidkernel.plugins.delivery import Deliverer
    from bidkernel.plugins.host import PluginHost

    tenders = TenderService(platform)
    registry = CollectorRegistry()
    lim = platform.limits
    ctx = Ctx(platform, Authenticator(platform), tenders, IntakeService(platform, tenders), registry,
              RoleRegistry(platform), RateLimiter(lim.client_rate, lim.client_burst))  # fmt: skip
    ctx.metrics = _metrics(registry)
    host = plugins if plugins is not None else PluginHost(data=platform.data)
    host.attach(platform)
    ctx.plugins = host
    deliverer = Deliverer(platform, host, policy=delivery)
    endpoints = ENDPOINTS + [_plugin_endpoint(n, r) for n, r in host.routes()]
    ctx.endpoints = endpoints
    routes: list[BaseRoute] = [Route(e.path, _wrap(e, ctx), methods=[e.method]) for e in endpoints]
    routes += tsa_routes(platform.tsa)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def sealer() -> None:
            last_tick = 0.0
            while True:
                try:
                    await run_in_threadpool(tenders.seal_due)
                except UntrustedTimeError:
                    pass
                except Exception:
                    log.exception("sealing failed")
                if time.monotonic() - last_tick >= opening_tick_s:
                    last_tick = time.monotonic()
                    try:
                        await run_in_threadpool(opening_routes.tick, ctx)
                    except Exception:
                        log.exception("the opening tick failed")
                await asyncio.sleep(seal_interval_s)

        task = asyncio.create_task(sealer())
        # plugins get events from the outbox here, off every request path (a plugin never delays a bid)
        delivering = asyncio.create_task(deliverer.run())
        try:
            yield
        finally:
            task.cancel()
            delivering.cancel()
            deliverer.close()

    async def routing_problem(_request: Request, exc: Exception) -> Response:
        # Starlette's own 404/405 would be text/plain; every error the kernel returns is problem+json (RFC 9457)
        assert isinstance(exc, HTTPException)
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
        resp = problem(exc.status_code, kind, PROBLEMS[kind][1], exc.detail)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: routing_problem})
    app.state.ctx = ctx
    app.state.deliverer = deliverer
    return app


__all__ = ["ENDPOINTS", "create_kernel_app", "load_doc", "openapi_document"]
