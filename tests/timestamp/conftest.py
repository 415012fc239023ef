"""Fixtures for the trusted-time tests: a test PKI on disk, TSAs, and real uvicorn servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

from pki import Issued, make_ca, make_tsa  # noqa: E402

from bidkernel.timestamp import TimeStampAuthority, TrustedClock  # noqa: E402
from bidkernel.timestamp.serials import SqliteSerialCounter  # noqa: E402
from bidkernel.timestamp.signers import ECDSA_P256_SHA256, load_signer  # noqa: E402

POLICY = "1.2.3.4.1"


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="session")
def ca(pki_dir: Path) -> Issued:
    return make_ca(pki_dir)


@pytest.fixture(scope="session")
def tsa_cert(pki_dir: Path, ca: Issued) -> Issued:
    return make_tsa(pki_dir, ca)


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


@pytest.fixture
def authority(tsa_cert: Issued, tmp_path: Path) -> TimeStampAuthority:
    return build_authority(tsa_cert, tmp_path / "serial.sqlite")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server on 127.0.0.1 and a random free port; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server() -> Callable[[Any], Any]:
    return serve


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
