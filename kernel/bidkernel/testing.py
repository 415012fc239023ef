"""``bidkernel.testing``: a pytest plugin for plugin authors (registered through the ``pytest11`` entry
point, so installing bidkernel is enough) — fixtures and a conformance suite (docs/writing_plugins.md).

Fixtures (all function-scoped, all real: SQLite, files, certificates from the embedded test CA, uvicorn
with uvloop + httptools on loopback):

* ``bk_plugins`` — the plugins under test as ``[(name, plugin object)]``; override it in your conftest.
  Default: none (entry points are not loaded, so one plugin's tests never see another's hooks).
* ``bk_delivery`` — the :class:`~bidkernel.plugins.delivery.DeliveryPolicy` (default: fast retries).
* ``bk_kernel`` — a :class:`RunningKernel` with those plugins: make tenders, seal and submit bids, move
  time (``bk_kernel.advance(seconds)``), wait for plugin delivery (``bk_kernel.deliver_all()``).
* ``bk_clock`` — the kernel's time-travel handle (``.offset`` in seconds; system and monotonic move together).
* ``bk_sealed_tender`` — a tender with two sealed bids (one replaced, one withdrawn before it), past its
  deadline and sealed: ``{"tender": ..., "bids": [...], "closing": ...}``.

Conformance: subclass :class:`PluginConformance` in a ``Test...`` class and set ``plugin_name`` and
``plugin``; pytest then runs the contract checks against your plugin.

This module imports nothing heavy at import time: pytest loads it in every run of a venv with bidkernel.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import uvicorn

    from bidkernel.client import KernelClient, Package
    from bidkernel.crypto.ca import Issued
    from bidkernel.platform import Platform
    from bidkernel.plugins.delivery import Deliverer, DeliveryPolicy
    from bidkernel.plugins.host import PluginHost


class ShiftableTime:
    """System and monotonic time that a test moves forward together (``offset`` seconds)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def system(self) -> float:
        return time.time() + self.offset

    def mono(self) -> float:
        return time.monotonic() + self.offset


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@dataclass
class RunningKernel:
    """A kernel served on loopback with a time-travel clock and a plugin host."""

    platform: Platform
    url: str
    time: ShiftableTime
    server: uvicorn.Server
    thread: threading.Thread
    tmp: Path
    host: PluginHost
    deliverer: Deliverer
    ids: dict[str, Issued] = field(default_factory=dict)
    opener: Issued | None = None

    # --- identities and clients ----------------------------------------------------------------
    def identity(self, name: str, role: str, org: str | None = None) -> Issued:
        if name not in self.ids:
            self.ids[name] = self.platform.pki.ca.issue(f"CN={name},OU={role},O={org or name}")
        return self.ids[name]

    def client(self, name: str | None = None, role: str = "bidder") -> KernelClient:
        from bidkernel.client import KernelClient

        if name is None:
            return KernelClient(self.url)
        i = self.identity(name, role)
        return KernelClient(self.url, i.key, i.certificate, now_ms=lambda: int(self.time.system() * 1000))

    def opening_cert(self) -> Issued:
        from bidkernel.platform import issue_opening_certificate

        if self.opener is None:
            self.opener = issue_opening_certificate(self.platform.pki.ca, "CN=opening key,O=bidkernel")
        return self.opener

    # --- time ------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.platform.clock.now()

    def advance(self, seconds: float) -> None:
        """Move the kernel's trusted time forward (time travel; nothing sleeps)."""
        self.time.offset += seconds

    # --- tenders and bids ----------------------------------------------------------------------
    def tender(
        self, agency: str = "agency-a", *, seconds: float = 600, publish: bool = True, **rules: Any
    ) -> dict[str, Any]:
        """Create (and publish) a tender; ``rules`` add fields of ``POST /tenders`` (e.g. ``quorum=2``)."""
        c = self.client(agency, "agency")
        dl = self.now() + dt.timedelta(seconds=seconds)
        t = c.call(
            "POST",
            "/tenders",
            {
                "title": "Road works lot 1",
                "deadline": dl.isoformat(),
                "lots": [{"id": "1", "name": "Lot 1"}],
                # platform custody with no agency certificate: the kernel generates the opening key at
                # publication, so the tender really opens (bidkernel_bids_opened fires)
                "custody": "platform",
                **rules,
            },
        )
        if publish:
            t = c.call("POST", f"/tenders/{t['id']}/publish")
        return dict(t)

    def amend(
        self, tender_id: str, note: str = "更正", agency: str = "agency-a", *, affects_bids: bool = False
    ) -> dict[str, Any]:
        """An amendment (更正); by default a note that does not affect bid preparation (no 15-day rule)."""
        body = {"note": note, "affects_bids": affects_bids}
        return dict(self.client(agency, "agency").call("POST", f"/tenders/{tender_id}/amendments", body))

    def seal(self, bidder: str, tender_id: str, *, size: int = 2048) -> Package:
        from bidkernel.client import Package, seal_package
        from bidkernel.crypto.x509 import Certificate

        i = self.identity(bidder, "bidder")
        pems = self.client().call("GET", f"/tenders/{tender_id}")["opening_certificates"]
        d = self.tmp / f"pkg-{bidder}-{tender_id}-{os.urandom(4).hex()}"
        d.mkdir()
        (d / "summary.json").write_text(f'{{"bidder": "{bidder}", "price": 1000}}')
        (d / "tech.bin").write_bytes(os.urandom(size))
        seal_package(
            d / "pkg",
            tender_id=tender_id,
            opening_certificates=[Certificate.from_pem(p.encode()) for p in pems],
            summary=d / "summary.json",
            files=[("technical", d / "tech.bin")],
            key=i.key,
            cert=i.certificate,
        )
        return Package.load(d / "pkg")

    def submit(self, bidder: str, tender_id: str) -> dict[str, Any]:
        """Seal and submit a bid; returns the receipt."""
        return dict(self.client(bidder).submit(tender_id, self.seal(bidder, tender_id)))

    def withdraw(self, bidder: str, bid_id: str) -> dict[str, Any]:
        return dict(self.client(bidder).call("POST", f"/bids/{bid_id}/withdraw"))

    def close(self, tender_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Travel past the deadline and return the closing record once the kernel sealed the tender."""
        from bidkernel.client import ApiError

        doc = self.client().call("GET", f"/tenders/{tender_id}")
        self.advance(max(0.0, doc["deadline_ms"] / 1000 - self.time.system()) + 1)
        end = time.monotonic() + timeout
        while True:
            try:
                return dict(self.client().call("GET", f"/tenders/{tender_id}/closing"))
            except ApiError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.02)

    def open(self, tender_id: str, agency: str = "agency-a", *, timeout: float = 60.0) -> dict[str, Any]:
        """Travel to the opening time, start the real opening (platform custody opens at once) and return
        its final status document (``state`` ``opened`` or ``failed``, the 唱标 table, the failures)."""
        c = self.client(agency, "agency")
        doc = c.call("GET", f"/tenders/{tender_id}")
        self.advance(max(0.0, doc["opening_ms"] / 1000 - self.time.system()) + 1)
        c.open_tender(tender_id)
        end = time.monotonic() + timeout
        while True:
            st = dict(c.opening_status(tender_id))
            if st["state"] in ("opened", "failed"):
                return st
            if time.monotonic() > end:
                raise TimeoutError(f"the opening of {tender_id} did not finish: {st.get('provider_error')}")
            time.sleep(0.05)

    # --- plugin delivery ------------------------------------------------------------------------
    def pending(self) -> int:
        with self.platform.store.reader() as r:
            return len(r.outbox_pending(10_000))

    def deliver_all(self, *, timeout: float = 60.0) -> None:
        """Wait until the background deliverer has delivered (or dead-lettered) every outbox event."""
        end = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > end:
                raise TimeoutError(f"{self.pending()} outbox events still pending")
            time.sleep(0.01)

    def ledger_kinds(self) -> list[str]:
        from bidkernel.ledger.events import decode_leaf

        return [decode_leaf(leaf).kind for _i, leaf in self.platform.log.iter_leaves()]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.platform.close()


def start_kernel(
    tmp: Path,
    *,
    plugins: Sequence[tuple[str, object]] = (),
    entry_points: bool = False,
    delivery: DeliveryPolicy | None = None,
    env: dict[str, str] | None = None,
) -> RunningKernel:
    """Serve a kernel on a fresh data dir under ``tmp`` with ``plugins`` registered (and the entry-point
    plugins too when ``entry_points``)."""
    import uvicorn

    from bidkernel.api.kernel_routes import create_kernel_app
    from bidkernel.platform import Platform
    from bidkernel.plugins.delivery import DeliveryPolicy
    from bidkernel.plugins.host import PluginHost
    from bidkernel.timestamp.clock import TrustedClock

    st = ShiftableTime()
    p = Platform.open(tmp / "data", clock=TrustedClock(system=st.system, monotonic=st.mono))
    host = PluginHost(data=p.data, env=env)
    for name, obj in plugins:
        host.register(obj, name)
    if entry_points:
        host.load_entry_points(env)
    policy = delivery or DeliveryPolicy(timeout_s=5.0, max_attempts=3, backoff_base_ms=0, poll_s=0.02)
    try:
        app = create_kernel_app(p, seal_interval_s=0.05, plugins=host, delivery=policy)
    except BaseException:
        p.close()  # a plugin refused at attach (e.g. a custody provider holding another key)
        raise
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")
    )
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not th.is_alive():
            p.close()
            raise RuntimeError("the kernel did not start")
        time.sleep(0.01)
    attest_with(p, f"http://127.0.0.1:{port}/tsa")
    return RunningKernel(p, f"http://127.0.0.1:{port}", st, srv, th, tmp, host, app.state.deliverer)


def attest_with(platform: Platform, url: str) -> None:
    """Make ``url`` (the test kernel's own ``POST /tsa``, whose clock the test moves) the TSA the opening
    gate asks before a platform-held key is unsealed (bidkernel.opening.gate), anchored at the data
    directory's CA root. Without it the gate uses the real clock, and a moved clock would never open."""
    from bidkernel.opening import gate

    gate.configure(platform.data, url, platform.pki.ca.root.certificate.to_pem())


def serve_tsa(platform: Platform) -> Callable[[], None]:
    """Serve ``platform``'s TSA on loopback (RFC 3161 over HTTP) and make it the opening gate's TSA
    (:func:`attest_with`), for a kernel driven as a library with a moved clock (benchmarks); returns stop."""
    from bidkernel.api.app import create_app

    url, stop = serve_app(create_app(tsa=platform.tsa))
    attest_with(platform, f"{url}/tsa")
    return stop


def serve_app(app: Any, *, timeout: float = 30, **config: Any) -> tuple[str, Callable[[], None]]:
    """Run the ASGI ``app`` on a real uvicorn server on 127.0.0.1 and a free port, in a thread; returns
    its base URL and a function that stops it. ``config``: more ``uvicorn.Config`` options."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + timeout
    while not srv.started:
        if time.monotonic() > deadline or not th.is_alive():
            raise RuntimeError("the server did not start on loopback")
        time.sleep(0.01)

    def stop() -> None:
        srv.should_exit = True
        th.join(10)

    return f"http://127.0.0.1:{port}", stop


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def bk_plugins() -> Sequence[tuple[str, object]]:
    """The plugins under test, ``[(name, plugin)]``. Override in your conftest.py."""
    return ()


@pytest.fixture
def bk_delivery() -> DeliveryPolicy:
    from bidkernel.plugins.delivery import DeliveryPolicy

    return DeliveryPolicy(timeout_s=5.0, max_attempts=3, backoff_base_ms=0, poll_s=0.02)


@pytest.fixture
def bk_kernel(
    tmp_path: Path, bk_plugins: Sequence[tuple[str, object]], bk_delivery: DeliveryPolicy
) -> Iterator[RunningKernel]:
    k = start_kernel(tmp_path, plugins=bk_plugins, delivery=bk_delivery)
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture
def bk_clock(bk_kernel: RunningKernel) -> ShiftableTime:
    return bk_kernel.time


@pytest.fixture
def bk_sealed_tender(bk_kernel: RunningKernel) -> dict[str, Any]:
    k = bk_kernel
    t = k.tender()
    first = k.submit("bidder-1", t["id"])
    second = k.submit("bidder-1", t["id"])  # replaces the first
    gone = k.submit("bidder-2", t["id"])
    k.withdraw("bidder-2", gone["body"]["bid_id"])
    third = k.submit("bidder-3", t["id"])
    closing = k.close(t["id"])
    return {"tender": t, "bids": [first, second, gone, third], "closing": closing}


# ---------------------------------------------------------------------------------------- conformance
class PluginConformance:
    """Contract checks a plugin runs against itself: subclass as ``class TestConformance(PluginConformance)``
    with ``plugin_name = "..."`` and ``plugin = <module or object>``."""

    plugin_name: str = ""
    plugin: object = None

    @pytest.fixture
    def bk_plugins(self) -> Sequence[tuple[str, object]]:
        return [(self.plugin_name, self.plugin)]

    def test_registers_against_the_contract(self) -> None:
        from bidkernel.plugins.host import PluginHost

        host = PluginHost(env={})
        host.register(self.plugin, self.plugin_name)  # unknown hooks, bad signatures, bad names raise
        assert host.info()[-1].hooks, "the plugin implements no hook"

    def test_routes_and_ledger_types_are_valid(self) -> None:
        from bidkernel.plugins.host import PluginHost

        host = PluginHost(env={})
        host.register(self.plugin, self.plugin_name)
        for _name, r in host.routes():
            assert callable(r.handler)
        for t in host.event_types(self.plugin_name):
            assert f"plugin.{self.plugin_name}.{t}".count(".") == 2

    def test_cli_commands_have_help(self) -> None:
        import click

        from bidkernel.plugins.host import PluginHost

        host = PluginHost(env={})
        host.register(self.plugin, self.plugin_name)
        for _name, cmds in host.cli_commands():
            for c in cmds:
                assert isinstance(c, click.Command)
                assert (c.help or c.short_help or "").strip(), f"command {c.name} has no help"

    def test_whole_lifecycle_without_dead_letters(self, bk_kernel: RunningKernel) -> None:
        from bidkernel.plugins.delivery import outbox_view

        k = bk_kernel
        t = k.tender()
        k.amend(t["id"])
        k.submit("bidder-1", t["id"])
        k.submit("bidder-1", t["id"])
        gone = k.submit("bidder-2", t["id"])
        k.withdraw("bidder-2", gone["body"]["bid_id"])
        k.close(t["id"])
        k.open(t["id"])  # the real opening (with the plugin's providers, if it has any)
        k.deliver_all()
        assert outbox_view(k.platform, state="dead") == []
        kinds = [e["kind"] for e in outbox_view(k.platform)]
        assert {"tender.published", "bid.received", "deadline.sealed", "opening.opened"} <= set(kinds)

    def test_providers_implement_their_protocols(self) -> None:
        """A provider hook's answer implements its protocol (else the kernel refuses to start with it)."""
        from bidkernel.plugins.host import PluginHost

        host = PluginHost(env={})
        host.register(self.plugin, self.plugin_name)
        host.timestamp_source(), host.key_custody(), host.blob_store(), host.notifier()  # raise PluginError if not

    def test_event_hooks_are_idempotent(self, bk_kernel: RunningKernel) -> None:
        """Every event delivered a second time (as after a crash): the plugin must not fail."""
        import asyncio

        from bidkernel.hookspecs import EVENT_HOOKS
        from bidkernel.plugins.contract import OutboxEvent
        from bidkernel.plugins.delivery import outbox_view
        from bidkernel.plugins.handles import event_payload

        k = bk_kernel
        t = k.tender()
        k.submit("bidder-1", t["id"])
        k.close(t["id"])
        k.deliver_all()
        errors = []
        for e in outbox_view(k.platform):
            with k.platform.store.reader() as r:
                row = r.outbox_get(e["id"])
            assert row is not None
            ev = OutboxEvent(row.id, row.kind, row.key, row.created_ms, event_payload(row.payload), 2)
            for name, fn in k.host.event_impls(EVENT_HOOKS[row.kind]):
                if name == self.plugin_name:
                    errors.append(asyncio.run(k.deliverer._call(fn, ev, name)))
        assert errors and all(x is None for x in errors), errors
