"""HTTP routes of the opening (docs/api.md "Opening"): start and status, custody share releases, the
bidders' own key releases and backups, confirmations and objections, and entitled plaintext reads.

``POST /tenders/{id}/opening`` answers 202 with the status document and lets the work run on in a
worker thread (for platform custody it proceeds at once); a background tick in the app's lifespan
advances every running opening (shares arriving, keys arriving, the decryption window closing).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bidkernel.authn import Principal
from bidkernel.opening.releases import Releases
from bidkernel.opening.service import OpeningService, read_plaintext
from bidkernel.problems import KernelError
from bidkernel.tenders import check_id
from bidkernel.timestamp.errors import UntrustedTimeError

if TYPE_CHECKING:
    from bidkernel.api.kernel_routes import Ctx, Endpoint

log = logging.getLogger("bidkernel.api.opening")


def _svc(ctx: Ctx) -> OpeningService:
    svc = ctx.extras.get("opening")
    if not isinstance(svc, OpeningService):
        svc = OpeningService(ctx.p, ctx.tenders)
        ctx.extras["opening"] = svc
    return svc


def _json(obj: Any, status: int = 200) -> Response:
    from bidkernel.api.kernel_routes import _json as j

    return j(obj, status)


async def _body(req: Request, ctx: Ctx) -> Any:
    from bidkernel.api.kernel_routes import _body_json

    return await _body_json(req, ctx)


def _tid(req: Request) -> str:
    return check_id(str(req.path_params["tender_id"]), "tender")


def kick(ctx: Ctx, tender_id: str) -> None:
    """Advance an opening in a worker thread, unless one is already running for that tender."""

    async def run() -> None:
        try:
            await run_in_threadpool(_svc(ctx).advance, tender_id, blocking=False)
        except (KernelError, UntrustedTimeError):
            pass
        except Exception:
            log.exception("the opening of %s failed", tender_id)

    task = asyncio.get_running_loop().create_task(run())
    ctx.extras.setdefault("tasks", set()).add(task)
    task.add_done_callback(ctx.extras["tasks"].discard)


def tick(ctx: Ctx) -> None:
    """Advance every running opening (called from the app's background loop)."""
    with ctx.p.store.reader() as r:
        running = r.openings_in_state("opening")
    for tid in running:
        try:
            _svc(ctx).advance(tid, blocking=False)
        except (KernelError, UntrustedTimeError):
            pass


async def opening_start(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    st = await run_in_threadpool(_svc(ctx).start, who, _tid(req))
    if st["state"] == "opening":
        kick(ctx, st["tender_id"])
    return _json(await run_in_threadpool(_svc(ctx).status, st["tender_id"], who), 202)


async def opening_status(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    return _json(await run_in_threadpool(_svc(ctx).status, _tid(req), who))


async def custody_info(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    from bidkernel.custody.tender_keys import setup_of

    doc = await run_in_threadpool(_svc(ctx)._doc, _tid(req))
    with ctx.p.store.reader() as r:
        setup = setup_of(r, doc["id"])
    return _json(setup)


async def custody_release(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    out = await run_in_threadpool(Releases(_svc(ctx)).release_share, who, _tid(req), await _body(req, ctx))
    kick(ctx, out["tender_id"])
    return _json(out, 201)


async def bid_key(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    rel = Releases(_svc(ctx))
    out = await run_in_threadpool(rel.release_bid_keys, who, str(req.path_params["bid_id"]), await _body(req, ctx))
    with ctx.p.store.reader() as r:
        bid = r.bid_get(out["bid_id"])
    if bid is not None:
        kick(ctx, bid.tender_id)
    return _json(out, 201)


async def bid_backup(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    rel = Releases(_svc(ctx))
    out = await run_in_threadpool(rel.upload_backup, who, str(req.path_params["bid_id"]), await _body(req, ctx))
    with ctx.p.store.reader() as r:
        bid = r.bid_get(out["bid_id"])
    if bid is not None:
        kick(ctx, bid.tender_id)
    return _json(out, 201)


async def opening_confirm(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    rel = Releases(_svc(ctx))
    return _json(await run_in_threadpool(rel.respond, who, _tid(req), await _body(req, ctx), objection=False), 201)


async def opening_object(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    assert who is not None
    rel = Releases(_svc(ctx))
    return _json(await run_in_threadpool(rel.respond, who, _tid(req), await _body(req, ctx), objection=True), 201)


async def bid_plaintext(req: Request, ctx: Ctx, who: Principal | None) -> Response:
    """The agency of the tender, the supervisor, or the bidder itself, after the tender is opened."""
    assert who is not None
    bid_id = check_id(str(req.path_params["bid_id"]), "bid")
    name = str(req.path_params["envelope"])
    with ctx.p.store.reader() as r:
        bid = r.bid_get(bid_id)
    if bid is None:
        raise KernelError("not-found", "no such bid")
    doc = await run_in_threadpool(ctx.tenders.get, bid.tender_id)
    entitled = (
        who.role == "supervisor"
        or (who.role == "agency" and who.org == doc["agency_org"])
        or (who.role == "bidder" and who.fp == bid.bidder_fp)
    )
    if not entitled:
        raise KernelError("not-found", "no such bid")
    data = await run_in_threadpool(read_plaintext, ctx.p, bid.tender_id, bid.id, name)
    return Response(data, media_type="application/octet-stream")


def opening_endpoints() -> list[Endpoint]:
    from bidkernel.api.kernel_routes import Endpoint

    return [
        Endpoint("POST", "/tenders/{tender_id}/opening", opening_start,
                 "Start the opening (agency; 409 too-early before the opening time); 202 + status", "signed",
                 ("agency",)),
        Endpoint("GET", "/tenders/{tender_id}/opening", opening_status,
                 "Opening status, 唱标 table, failures (agency, supervisor, bidders; anyone after)", "optional"),
        Endpoint("GET", "/tenders/{tender_id}/custody", custody_info,
                 "Custody setup: model, commitments, encrypted shares (public)", "public"),
        Endpoint("POST", "/tenders/{tender_id}/custody/releases", custody_release,
                 "A custodian releases its key share (after the opening time)", "signed"),
        Endpoint("POST", "/tenders/{tender_id}/opening/confirmations", opening_confirm,
                 "A bidder confirms its row of the 唱标 table", "signed", ("bidder",)),
        Endpoint("POST", "/tenders/{tender_id}/opening/objections", opening_object,
                 "A bidder objects to a row of the 唱标 table", "signed", ("bidder",)),
        Endpoint("POST", "/bids/{bid_id}/key", bid_key,
                 "Bidder custody: the bidder releases its content keys in the decryption window", "signed",
                 ("bidder",)),
        Endpoint("POST", "/bids/{bid_id}/backup", bid_backup,
                 "Remedy: the bidder uploads its backup headers in the decryption window", "signed", ("bidder",)),
        Endpoint("GET", "/bids/{bid_id}/plaintext/{envelope}", bid_plaintext,
                 "A decrypted envelope (agency, supervisor, own bidder; after the tender is opened)", "signed",
                 ("bidder", "agency", "supervisor")),
    ]  # fmt: skip
