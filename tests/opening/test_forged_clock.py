"""A direct library call with a forged clock, on a kernel with no TSA configured for the opening gate:
``Platform.open(data, clock=<a clock two days ahead>)`` passes the clock gate and its embedded TSA (built
on that clock) would attest the forged time — but the platform-held key is unsealed only on the time the
data directory's TSA key signs on the kernel's own clock (``bidkernel.opening.gate.kernel_clock``), which
no argument reaches: ``too-early``, 0 plaintext bytes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bidkernel import providers
from bidkernel.authn import Principal
from bidkernel.client import Package, seal_package
from bidkernel.crypto.x509 import Certificate
from bidkernel.intake import IntakeService
from bidkernel.opening import OpeningService, read_plaintext
from bidkernel.opening.gate import CONFIG, kernel_clock
from bidkernel.platform import Platform
from bidkernel.problems import KernelError
from bidkernel.tenders import TenderService
from bidkernel.testing import ShiftableTime
from bidkernel.timestamp.clock import TrustedClock
from bidkernel.timestamp.verify import describe_token

DAY_MS = 86_400_000


async def _stream(pkg: Package) -> AsyncIterator[bytes]:
    for c in pkg.chunks():
        yield c


def _who(role: str, fp: str) -> Principal:
    return Principal(role, role, fp, f"CN={role}", "n-" + os.urandom(6).hex())


def _tender_with_bids(p: Platform, tmp: Path) -> tuple[dict[str, object], Principal]:
    """A platform-custody tender (deadline in a minute, opening a day later) with three sealed bids."""
    ca = p.pki.ca
    agency = ca.issue("CN=agency,OU=agency,O=agency")
    fp = agency.certificate.fingerprint.hex()
    tenders = TenderService(p)
    now = p.now_ms()
    doc = tenders.create(_who("agency", fp), {"title": "t", "deadline": now + 60_000, "opening": now + DAY_MS})
    doc = tenders.publish(_who("agency", fp), doc["id"])
    opener = Certificate.from_pem(doc["opening_certificates"][0].encode())
    intake = IntakeService(p, tenders)
    for i in range(3):
        b = ca.issue(f"CN=b{i},OU=bidder,O=b{i}")
        d = tmp / f"pkg-{i}"
        d.mkdir()
        (d / "s.json").write_text(f'{{"price": {i}}}')
        (d / "doc.bin").write_bytes(os.urandom(3000))
        seal_package(d / "pkg", tender_id=doc["id"], opening_certificates=[opener], summary=d / "s.json",
                     files=[("doc", d / "doc.bin")], key=b.key, cert=b.certificate)  # fmt: skip
        pkg = Package.load(d / "pkg")
        asyncio.run(intake.submit(_who("bidder", b.certificate.fingerprint.hex()), doc["id"], _stream(pkg),
                                  content_length=pkg.length(), declared_sm3=pkg.body_sm3(),
                                  bidder_cert=b.certificate))  # fmt: skip
    return doc, _who("agency", fp)


def _plaintext_bytes(data: Path) -> int:
    d = data / "plaintext"
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) if d.exists() else 0


def test_forged_clock_direct_library_call_unseals_nothing(tmp_path: Path) -> None:
    data = tmp_path / "kernel"
    shift = ShiftableTime()  # the caller's clock: it moves wherever the caller wants
    p = Platform.open(data, clock=TrustedClock(system=shift.system, monotonic=shift.mono))
    try:
        doc, agency = _tender_with_bids(p, tmp_path)
        assert not (data / CONFIG).exists()  # no TSA configured: the kernel's own clock decides
        opening_ms = int(str(doc["opening_ms"]))
        shift.offset += 2 * DAY_MS / 1000  # forged: two days ahead
        svc = OpeningService(p)
        svc.require_opening_time(svc._doc(str(doc["id"])))  # the clock gate is fooled
        assert describe_token(providers.stamp(p, b"x")).gen_time.timestamp() * 1000 > opening_ms  # so is its TSA
        st = svc.start(agency, str(doc["id"]))
        assert st["state"] == "opening"
        with pytest.raises(KernelError) as e:
            svc.advance(str(doc["id"]))
        assert e.value.kind == "too-early"
        assert "(embedded TSA key, kernel clock) is before the opening" in e.value.detail
        st = svc.state(str(doc["id"]))
        assert st is not None and st["summary_ms"] is None and st["table"] == []
        assert _plaintext_bytes(data) == 0
        bid = st["live_bids"][0]
        with pytest.raises(KernelError, match="too-early"):
            read_plaintext(p, str(doc["id"]), bid, "summary")
    finally:
        p.close()
    # a fresh Platform.open around a clock that starts forged (no earlier reading to step from): the same
    p = Platform.open(data, clock=TrustedClock(system=lambda: time.time() + 2 * DAY_MS / 1000))
    try:
        with pytest.raises(KernelError, match=r"too-early: the attested time .* is before the opening"):
            OpeningService(p).advance(str(doc["id"]))
        assert _plaintext_bytes(data) == 0
        assert kernel_clock() is kernel_clock() and kernel_clock() is not p.clock  # one per process, not the caller's
    finally:
        p.close()
