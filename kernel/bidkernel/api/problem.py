"""RFC 9457 problem details (``application/problem+json``), the kernel's error shape over HTTP.

``type`` is ``https://bidkernel.dev/problems/<kind>`` for every kind in :data:`bidkernel.problems.PROBLEMS`.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

from bidkernel.problems import PROBLEM_BASE, KernelError

PROBLEM_TYPE_PREFIX = PROBLEM_BASE


def problem(status: int, kind: str, title: str, detail: str | None = None, **extra: object) -> Response:
    """A problem+json response whose ``type`` is the stable ``https://bidkernel.dev/problems/<kind>``."""
    body: dict[str, object] = {"type": PROBLEM_TYPE_PREFIX + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def error_response(exc: KernelError, headers: dict[str, str] | None = None) -> Response:
    resp = problem(exc.status, exc.kind, exc.title, exc.detail or None, **exc.extra)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
