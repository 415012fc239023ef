"""A real kernel on loopback for the intake and API tests: a Platform on a tmp data dir (real SQLite,
real files, real certificates from the embedded test CA), served by uvicorn (uvloop + httptools) in a
thread, with a trusted clock whose time the test can move (system and monotonic shift together)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from bidkernel.api.kernel_routes import create_kernel_app
from bidkernel.client import KernelClient, Package, seal_package
from bidkernel.crypto.ca import Issued
from bidkernel.platform import Limits, Platform, issue_opening_certificate
from bidkernel.testing import attest_with
from bidkernel.timestamp.clock import TrustedClock


class ShiftableTime:
    def __init__(self) -> None:
        self.offset = 0.0

    def system(self) -> float:
        return time.time() + self.offset

    def mono(self) -> float:
        return time.monotonic() + self.offset


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class Kernel:
    platform: Platform
    url: str
    time: ShiftableTime
    server: uvicorn.Server
    thread: threading.Thread
    tmp: Path
    ids: dict[str, Issued] = field(default_factory=dict)
    opener: Issued | None = None

    def identity(self, name: str, role: str, org: str | None = None, **kw: Any) -> Issued:
        if name not in self.ids:
            self.ids[name] = self.platform.pki.ca.issue(f"CN={name},OU={role},O={org or name}", **kw)
        return self.ids[name]

    def client(self, name: str | None = None) -> KernelClient:
        if name is None:
            return KernelClient(self.url)
        i = self.ids[name] if name in self.ids else self.identity(name, "bidder")
        return KernelClient(self.url, i.key, i.certificate, now_ms=lambda: int(self.time.system() * 1000))

    def opening_cert(self) -> Issued:
        if self.opener is None:
            self.opener = issue_opening_certificate(self.platform.pki.ca, "CN=opening key,O=bidkernel")
        return self.opener

    def now(self) -> dt.datetime:
        return self.platform.clock.now()

    def tender(self, agency: str = "agency-a", *, seconds: float = 600, publish: bool = True) -> dict[str, Any]:
        self.identity(agency, "agency")
        c = self.client(agency)
        dl = self.now() + dt.timedelta(seconds=seconds)
        t = c.call("POST", "/tenders", {
            "title": "Road works lot 1", "deadline": dl.isoformat(),
            "lots": [{"id": "1", "name": "Lot 1"}, {"id": "2", "name": "Lot 2"}],
            "opening_certificates": [self.opening_cert().certificate.to_pem().decode()],
        })  # fmt: skip
        if publish:
            t = c.call("POST", f"/tenders/{t['id']}/publish")
        return dict(t)

    def seal(self, bidder: str, tender_id: str, *, size: int = 4096, tag: str = "", lot: str | None = "1") -> Package:
        i = self.identity(bidder, "bidder")
        d = self.tmp / f"pkg-{bidder}-{tender_id}-{tag}-{os.urandom(3).hex()}"
        d.mkdir()
        (d / "summary.json").write_text(f'{{"bidder": "{bidder}", "price": 1000{tag}}}')
        (d / "tech.bin").write_bytes(os.urandom(size))
        seal_package(d / "pkg", tender_id=tender_id, opening_certificates=[self.opening_cert().certificate],
                     summary=d / "summary.json", files=[("technical", d / "tech.bin")], key=i.key,
                     cert=i.certificate, lot=lot)  # fmt: skip
        return Package.load(d / "pkg")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.platform.close()


def start_kernel(tmp: Path, *, limits: Limits | None = None, group_commit: bool = True) -> Kernel:
    st = ShiftableTime()
    clock = TrustedClock(system=st.system, monotonic=st.mono)
    p = Platform.open(tmp / "data", clock=clock, limits=limits, group_commit=group_commit)
    app = create_kernel_app(p, seal_interval_s=0.05)
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")
    )
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    attest_with(p, f"http://127.0.0.1:{port}/tsa")  # the opening gate's TSA: this kernel's, on the moved clock
    return Kernel(p, f"http://127.0.0.1:{port}", st, srv, th, tmp)
