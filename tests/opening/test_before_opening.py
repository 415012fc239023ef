"""Every path to plaintext before the opening time fails, with 0 plaintext bytes produced: the HTTP API
(start, plaintext read), the CLI, custody releases (see test_threshold), and direct library calls —
including a library call on a platform whose system clock was stepped forward (a forged clock)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from click.testing import CliRunner
from cryptography import x509 as cx509
from opening_support import Hall

from bidkernel import providers
from bidkernel.authn import Principal
from bidkernel.cli.main import build_cli
from bidkernel.client import ApiError
from bidkernel.opening import OpeningService, read_plaintext
from bidkernel.opening.service import plaintext_dir
from bidkernel.platform import TSA_POLICY, Platform
from bidkernel.problems import KernelError
from bidkernel.timestamp.clock import TrustedClock
from bidkernel.timestamp.errors import UntrustedTimeError
from bidkernel.timestamp.signers import Sm2Signer
from bidkernel.timestamp.tsa import TimeStampAuthority
from bidkernel.timestamp.verify import describe_token


def _agency(hall: Hall) -> Principal:
    i = hall.k.ids["agency-a"]
    return Principal("agency", "agency-a", i.certificate.fingerprint.hex(), "CN=agency-a", "n-" + str(time.time_ns()))


def test_no_path_to_plaintext_before_the_opening_time(hall: Hall) -> None:
    deadline = hall.k.now() + dt.timedelta(seconds=60)
    t = hall.tender(seconds=60, opening_certificates=[], opening=(deadline + dt.timedelta(seconds=60)).isoformat())
    bids = [hall.submit(n, t, price=i)[0] for i, n in enumerate("ABC")]
    agency = hall.agency()
    key, cert = hall.tmp / "ag.key", hall.tmp / "ag.pem"
    key.write_bytes(hall.k.ids["agency-a"].key.to_pkcs8(True))
    cert.write_bytes(hall.k.ids["agency-a"].certificate.to_pem())
    svc = OpeningService(hall.k.platform)
    for moment in ("open", "closed"):
        if moment == "closed":
            hall.after_deadline(t)
        # HTTP
        with pytest.raises(ApiError) as e:
            agency.open_tender(t["id"])
        assert (e.value.status, e.value.kind) == (409, "too-early")
        status, _h, body = agency.raw("GET", f"/bids/{bids[0]}/plaintext/summary")
        assert status == 409 and b"too-early" in body
        # CLI
        r = CliRunner().invoke(build_cli(), ["open", t["id"], "--server", hall.k.url, "--key", str(key),
                                             "--cert", str(cert)])  # fmt: skip
        assert r.exit_code != 0 and "too-early" in r.output
        # library
        with pytest.raises(KernelError, match="too-early"):
            svc.start(_agency(hall), t["id"])
        with pytest.raises(KernelError, match="opening-state"):
            svc.advance(t["id"])
        with pytest.raises(KernelError, match="too-early"):
            read_plaintext(hall.k.platform, t["id"], bids[0], "summary")
        assert svc.state(t["id"]) is None
        assert hall.plaintext_bytes() == 0
        assert not plaintext_dir(hall.k.platform, t["id"], bids[0]).exists()

    # a forged clock: the running platform's system clock stepped a day ahead (monotonic time unchanged)
    forged_offset = [0.0]
    clock = TrustedClock(system=lambda: time.time() + hall.k.time.offset + forged_offset[0],
                         monotonic=hall.k.time.mono)  # fmt: skip
    forged = Platform(hall.k.platform.data, hall.k.platform.store, hall.k.platform.blobs, hall.k.platform.log,
                      clock, hall.k.platform.tsa, hall.k.platform.pki, hall.k.platform.limits)  # fmt: skip
    clock.read()
    forged_offset[0] = 86400.0
    with pytest.raises(UntrustedTimeError):
        OpeningService(forged).start(_agency(hall), t["id"])
    with pytest.raises(UntrustedTimeError):
        read_plaintext(forged, t["id"], bids[0], "summary")
    assert hall.plaintext_bytes() == 0

    # at the opening time, the same calls work
    hall.advance_to(t["opening_ms"])
    st = svc.start(_agency(hall), t["id"])
    st = svc.advance(t["id"])
    assert st["state"] == "opened" and hall.plaintext_bytes() > 0


def test_threshold_custody_gives_nothing_to_a_forged_clock(hall: Hall) -> None:
    """A platform opened on the same data with a clock forged a day ahead passes the time gate — but under
    threshold custody the kernel holds no key: without the custodians, nothing decrypts."""
    t = hall.threshold_tender(2, 3, seconds=600)
    bids = [hall.submit(n, t, price=i)[0] for i, n in enumerate("ABC")]
    forged = TrustedClock(system=lambda: time.time() + 86400 * 2)
    p2 = Platform(hall.k.platform.data, hall.k.platform.store, hall.k.platform.blobs, hall.k.platform.log,
                  forged, hall.k.platform.tsa, hall.k.platform.pki, hall.k.platform.limits)  # fmt: skip
    svc = OpeningService(p2)
    st = svc.start(_agency(hall), t["id"])
    assert st["state"] == "opening"
    st = svc.advance(t["id"])
    assert st["state"] == "opening" and st["summary_ms"] is None
    assert hall.plaintext_bytes() == 0
    with pytest.raises(KernelError, match="too-early"):
        read_plaintext(p2, t["id"], bids[0], "summary")


def test_platform_custody_gives_nothing_to_a_fresh_forged_clock(hall: Hall) -> None:
    """A Platform built afresh around a clock forged two days ahead — with, as ``Platform.open(data,
    clock=forged)`` builds it, its embedded TSA on that same forged clock — passes the clock gate, and its
    own TSA would attest the forged time. But the platform-held key is unsealed only on the time the
    configured TSA (here the running kernel's, verified against the CA root) attests: nothing decrypts."""
    deadline = hall.k.now() + dt.timedelta(seconds=60)
    t = hall.tender(seconds=60, opening_certificates=[], opening=(deadline + dt.timedelta(seconds=60)).isoformat())
    bids = [hall.submit(n, t, price=i)[0] for i, n in enumerate("ABC")]
    hall.after_deadline(t)  # sealed at the deadline; the opening is a minute later
    forged = TrustedClock(system=lambda: time.time() + hall.k.time.offset + 86400 * 2)
    k = hall.k.platform
    root = cx509.load_der_x509_certificate(k.pki.ca.root.certificate.der)
    forged_tsa = TimeStampAuthority(signer=Sm2Signer(k.pki.tsa.key), chain=[root], policy=TSA_POLICY,
                                    certificate=cx509.load_der_x509_certificate(k.pki.tsa.certificate.der),
                                    serials=k.tsa.serials, clock=forged)  # fmt: skip
    p2 = Platform(k.data, k.store, k.blobs, k.log, forged, forged_tsa, k.pki, k.limits)
    svc = OpeningService(p2)
    svc.require_opening_time(svc._doc(t["id"]))  # the forged clock alone would let it through
    assert describe_token(providers.stamp(p2, b"x")).gen_time.timestamp() * 1000 > t["opening_ms"]  # and its TSA
    svc.start(_agency(hall), t["id"])
    with pytest.raises(KernelError, match=r"too-early: the attested time .* \(http://127\.0\.0\.1:\d+/tsa\) is before"):
        svc.advance(t["id"])
    st = svc.state(t["id"])
    assert st is not None and st["summary_ms"] is None and st["table"] == []
    assert hall.plaintext_bytes() == 0
    with pytest.raises(KernelError, match="too-early"):
        read_plaintext(p2, t["id"], bids[0], "summary")
    # at the real opening time the kernel's own service opens the tender normally
    hall.advance_to(t["opening_ms"])
    st = OpeningService(hall.k.platform).advance(t["id"])
    assert st["state"] == "opened" and hall.plaintext_bytes() > 0
