"""Helpers for the trusted-time tests: TSAs, real uvicorn servers on loopback, a hand-moved time source."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ts_pki import Issued

from bidkernel.testing import serve_app
from bidkernel.timestamp import TimeStampAuthority, TrustedClock
from bidkernel.timestamp.serials import SqliteSerialCounter
from bidkernel.timestamp.signers import ECDSA_P256_SHA256, load_signer

POLICY = "1.2.3.4.1"


def build_authority(tsa: Issued, serial_db: Path, *, clock: Any | None = None, **kw: Any) -> TimeStampAuthority:
    return TimeStampAuthority(
        signer=load_signer(ECDSA_P256_SHA256, tsa.key_pem),
        certificate=tsa.cert,
        policy=POLICY,
        accepted_policies=["1.2.3.4.5"],
        serials=SqliteSerialCounter(serial_db),
        clock=clock or TrustedClock(),
        **kw,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server on 127.0.0.1 and a random free port; yield its base URL."""
    url, stop = serve_app(app, timeout=10, lifespan="off")
    try:
        yield url
    finally:
        stop()


def slow_app(delay: float) -> Any:
    """An ASGI app that accepts the request and answers nothing for ``delay`` seconds."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(delay)
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


class ManualTime:
    """A system clock and a monotonic clock the test moves by hand (the injectable sources of TrustedClock)."""

    def __init__(self, start: float) -> None:
        self.wall = start
        self.mono = 1000.0

    def system(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    def step_system(self, seconds: float) -> None:
        """The system clock jumps (an operator, a bad NTP server); real time and monotonic do not."""
        self.wall += seconds
