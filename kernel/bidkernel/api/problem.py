"""RFC 9457 problem details (``application/problem+json``), the kernel's error shape over HTTP.

Minimal for now; the intake issue grows this into the app-wide error handling.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

PROBLEM_TYPE_PREFIX = "urn:bidkernel:problem:"


def problem(status: int, kind: str, title: str, detail: str | None = None, **extra: object) -> Response:
    """A problem+json response whose ``type`` is the stable ``urn:bidkernel:problem:<kind>``."""
    body: dict[str, object] = {"type": PROBLEM_TYPE_PREFIX + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")
