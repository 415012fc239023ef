"""``POST /tsa``: the RFC 3161 §3.4 HTTP binding of the kernel's time-stamping authority.

* ``Content-Type: application/timestamp-query`` in, ``application/timestamp-reply`` out (status 200 for
  every TimeStampResp, granted or rejected: RFC 3161 defines the rejection inside the reply).
* Only where RFC 3161 has no answer is there an HTTP error, as problem+json: a wrong content type (415,
  ``https://bidkernel.dev/problems/tsa-content-type``) and another method (405, ``.../method-not-allowed``).
  A body over the size limit is not read further and gets a
  TimeStampResp rejection with failInfo badDataFormat.
* Signing and the serial store run in the thread pool so the event loop never blocks.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bidkernel.api.problem import problem
from bidkernel.timestamp.tsa import MAX_REQUEST_BYTES, TimeStampAuthority, rejection_response

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


def tsa_routes(authority: TimeStampAuthority, *, path: str = "/tsa") -> list[Route]:
    """The routes serving ``authority`` at ``path`` (include them in the kernel's Starlette app)."""

    async def timestamp(request: Request) -> Response:
        if request.method != "POST":
            resp = problem(405, "method-not-allowed", "Method not allowed", "the TSA takes POST (RFC 3161 §3.4)")
            resp.headers["Allow"] = "POST"
            return resp
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != QUERY_TYPE:
            return problem(
                415,
                "tsa-content-type",
                "Unsupported media type",
                f"send the DER TimeStampReq as {QUERY_TYPE} (RFC 3161 §3.4)",
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                reply = rejection_response("badDataFormat", "request too large")
                return Response(reply, media_type=REPLY_TYPE)
        reply = await run_in_threadpool(authority.respond, bytes(body))
        return Response(reply, media_type=REPLY_TYPE)

    methods = ["POST", "GET", "PUT", "DELETE", "PATCH"]
    return [Route(path, timestamp, methods=methods, name="tsa")]
