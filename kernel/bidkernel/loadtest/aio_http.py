"""A minimal asyncio HTTP/1.1 client for the load generator: one connection per request (each bidder is
its own client), a signed request (docs/protocol.md "Request authentication"), the body streamed from the
sealed files in 256 KiB chunks, and the response read whole (receipts and problems are small).

The standard library's blocking ``http.client`` (``KernelClient``) would need a thread per request in
flight; an open-model generator keeps hundreds in flight on one core, so it speaks HTTP on asyncio
streams. A server that refuses early (e.g. 409 ``deadline-passed`` before the body is read) may close
the connection while the body is still being sent: the response is read concurrently with the sending,
so the answer it wrote is used and the rest of the body is not sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

_CHUNK = 256 << 10


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    sent_bytes: int

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class HttpError(Exception):
    """No HTTP response: ``kind`` is a stable name for the report (connect, reset, timeout, protocol)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpError("protocol", f"bad status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return int(parts[1]), headers, body


async def request(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    prefix: bytes = b"",
    files: Iterable[Any] = (),
    length: int | None = None,
) -> HttpResult:
    """Send ``prefix`` then the ``files`` (paths) as the body; ``length`` is their total size."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise HttpError("connect", str(exc) or type(exc).__name__) from None
    sent = 0
    answer: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
    try:
        h = {"Host": f"{host}:{port}", "Connection": "close", **headers}
        if length is None:
            length = len(prefix)
        h["Content-Length"] = str(length)
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in h.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        # read while sending: a server that refuses early answers, then closes; reading at once keeps that
        # answer from being discarded by the connection reset that follows its close
        answer = asyncio.ensure_future(_read_response(reader))
        send_error: BaseException | None = None
        try:
            if prefix:
                writer.write(prefix)
                sent += len(prefix)
            await writer.drain()
            for f in files:
                if answer.done():
                    break
                with open(f, "rb") as fh:
                    while not answer.done() and (chunk := fh.read(_CHUNK)):
                        writer.write(chunk)
                        sent += len(chunk)
                        await writer.drain()
        except (ConnectionError, OSError) as exc:  # the server answered early and closed; read its answer
            send_error = exc
        try:
            status, rh, body = await answer
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            cause = send_error or exc
            raise HttpError("reset", f"{type(cause).__name__}: {cause}") from None
        return HttpResult(status, rh, body, sent)
    finally:
        if answer is not None and not answer.done():
            answer.cancel()  # timed out (wait_for) or failed while sending
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
