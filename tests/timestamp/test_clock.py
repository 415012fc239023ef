"""The kernel's trusted clock (issue 6): monotonic, skew-checked, refusing when time cannot be trusted; the
deadline boundary at ±100 ms; the system clock stepped back and forward 300 s during intake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from ts_pki import Issued
from ts_support import ManualTime, build_authority, serve

from bidkernel.api.app import create_app
from bidkernel.timestamp import Trust, TrustedClock, UntrustedTimeError, verify_token
from bidkernel.timestamp.client import TSAClient, TSAEndpoint, TSAReference

T0 = 1_900_000_000.0  # 2030-03-17


def clock_on(t: ManualTime, **kw) -> TrustedClock:
    return TrustedClock(system=t.system, monotonic=t.monotonic, **kw)


def test_reads_follow_time_and_state_uncertainty() -> None:
    t = ManualTime(T0)
    c = clock_on(t, system_accuracy=0.02)
    r1 = c.read()
    assert r1.timestamp == pytest.approx(T0) and r1.uncertainty == pytest.approx(0.02) and r1.skew == 0
    t.advance(1.5)
    assert c.read().timestamp == pytest.approx(T0 + 1.5)
    assert c.status().trusted and c.status().source == "system"


@pytest.mark.parametrize("offset_ms, accepted", [(-100, True), (+100, False), (-40, False), (0, False)])
def test_deadline_boundary_decided_by_trusted_time(offset_ms: int, accepted: bool) -> None:
    """A submission at deadline + offset is accepted only if trusted time (with its 50 ms uncertainty) is
    wholly before the deadline: -100 ms in, +100 ms out, and the uncertainty band refused (never late)."""
    t = ManualTime(T0)
    c = clock_on(t, system_accuracy=0.05)
    deadline = datetime.fromtimestamp(T0 + 60, tz=UTC)
    t.advance(60 + offset_ms / 1000)
    assert c.is_before(deadline) is accepted
    # the bidder's own clock plays no part: nothing here reads it


def test_opening_not_before_its_time() -> None:
    t = ManualTime(T0)
    c = clock_on(t, system_accuracy=0.05)
    opening = T0 + 10
    t.advance(10.0)
    assert not c.has_reached(opening)  # the uncertainty band could still be before the opening
    t.advance(0.06)
    assert c.has_reached(opening)


@pytest.mark.parametrize("step", [-300.0, +300.0])
def test_system_clock_step_refuses_and_reports_skew(step: float) -> None:
    t = ManualTime(T0)
    c = clock_on(t)
    deadline = T0 + 100
    t.advance(50)
    assert c.is_before(deadline)
    t.step_system(step)
    with pytest.raises(UntrustedTimeError) as e:
        c.is_before(deadline)
    assert e.value.code == "clock.skew" and e.value.skew == pytest.approx(step)
    assert ("behind" if step < 0 else "ahead of") in str(e.value) and "300.000 s" in str(e.value)
    st = c.status()
    assert not st.trusted and st.system_skew == pytest.approx(step) and "300.000" in (st.last_error or "")
    with pytest.raises(UntrustedTimeError):
        c.has_reached(T0)  # the opening refuses too
    # the system clock is put right: trusted again, and time never ran backwards
    t.step_system(-step)
    r = c.read()
    assert r.timestamp == pytest.approx(T0 + 50)


def test_never_goes_backwards_after_reset() -> None:
    t = ManualTime(T0)
    c = clock_on(t)
    t.advance(10)
    before = c.read().timestamp
    t.step_system(-0.9)  # within the bound: not refused ...
    c.reset_to_system()  # ... and an operator re-anchors on the (slightly earlier) system clock
    after = [c.read().timestamp for _ in range(3)]
    assert all(a >= before for a in after)
    t.advance(2)
    assert c.read().timestamp == pytest.approx(T0 + 10 - 0.9 + 2)


def test_small_drift_is_followed_not_refused() -> None:
    t = ManualTime(T0)
    c = clock_on(t, resync_interval=60)
    for _ in range(10):  # NTP slews the system clock 0.5 s over 10 minutes
        t.advance(60)
        t.step_system(0.05)
        c.read()
    assert c.read().timestamp == pytest.approx(t.wall, abs=0.06)


def test_intake_with_system_clock_stepped_back_and_forward(authority_factory) -> None:
    """A simulated intake: a bid arrives every second up to and past the deadline while the system clock is
    stepped back 300 s and later forward 300 s. No bid at or after the deadline is accepted, receipts'
    genTimes never go backwards and are never before the arrival, and the skew is reported."""
    start = float(int(datetime.now(UTC).timestamp()))  # inside the test TSA certificate's validity
    t = ManualTime(start)
    clock = clock_on(t)
    tsa, trust = authority_factory(clock)
    deadline = start + 30
    accepted, refused, skews, receipts = [], [], [], []
    for i in range(40):
        t.advance(1.0)
        if i == 10:
            t.step_system(-300)
        if i == 15:
            t.step_system(+300)  # put back
        if i == 20:
            t.step_system(+300)
        if i == 25:
            t.step_system(-300)  # put back
        arrival = start + i + 1
        try:
            ok = clock.is_before(deadline)
        except UntrustedTimeError as exc:
            skews.append(exc.skew)
            refused.append((arrival, "untrusted"))
            continue
        if not ok:
            refused.append((arrival, "late"))
            continue
        token = tsa.stamp(b"bid %d" % i)
        info = verify_token(token, b"bid %d" % i, trust)
        accepted.append(arrival)
        receipts.append(info.gen_time.timestamp())
    assert accepted and all(a < deadline for a in accepted)
    assert all(a >= deadline for a, why in refused if why == "late")
    assert receipts == sorted(receipts)
    assert all(abs(g - a) < 0.002 for g, a in zip(receipts, accepted, strict=True))  # not back-dated
    assert skews and {round(s) for s in skews} == {-300, 300}
    assert sum(1 for _, why in refused if why == "untrusted") == 10


@pytest.fixture
def authority_factory(tsa_cert: Issued, ca: Issued, tmp_path: Path):
    def make(clock: TrustedClock):
        return build_authority(tsa_cert, tmp_path / "serial.sqlite", clock=clock), Trust([ca.cert], at=None)

    return make


# --- reference mode against a real TSA on loopback -----------------------------------------------


@pytest.fixture
def reference_tsa(tsa_cert: Issued, ca: Issued, tmp_path: Path):
    auth = build_authority(tsa_cert, tmp_path / "ref-serial.sqlite")  # the TSA runs on the real clock
    with serve(create_app(tsa=auth)) as base:
        yield base + "/tsa", Trust([ca.cert])


def test_reference_mode_skew_reported_trusted_time_kept(reference_tsa) -> None:
    url, trust = reference_tsa
    import time

    offset = [0.0]
    client = TSAClient([TSAEndpoint(url, trust)], timeout=2, total_timeout=5, retries=0)
    clock = TrustedClock(reference=TSAReference(client), system=lambda: time.time() + offset[0], max_skew=1.0)
    r = clock.read()
    assert abs(r.timestamp - time.time()) < 0.5 and r.uncertainty < 0.5
    for step in (-300.0, +300.0):
        offset[0] = step
        r = clock.read()  # the system clock disagrees; the reference confirms trusted time
        assert abs(r.timestamp - time.time()) < 0.5
        assert r.skew == pytest.approx(step, abs=0.5)
        st = clock.status()
        assert st.trusted and st.system_skew == pytest.approx(step, abs=0.5)
        assert "confirmed by the reference" in (st.last_error or "")
    assert clock.status().reference_offset is not None and abs(clock.status().reference_offset) < 0.5


def test_reference_unreachable_beyond_grace_refuses(reference_tsa) -> None:
    url, trust = reference_tsa
    import time

    mono = [time.monotonic()]
    client = TSAClient([TSAEndpoint(url, trust)], timeout=1, total_timeout=2, retries=0)
    clock = TrustedClock(
        reference=TSAReference(client), monotonic=lambda: mono[0], resync_interval=10, grace=30, max_skew=1000
    )
    clock.read()
    # the reference goes away (a port nobody listens on)
    from ts_support import free_port

    client.endpoints = (TSAEndpoint(f"http://127.0.0.1:{free_port()}/tsa", trust),)
    mono[0] += 20  # resync due and failing, but within grace: still trusted
    assert clock.status().trusted
    mono[0] += 15  # 35 s since the last good sync > 30 s grace
    with pytest.raises(UntrustedTimeError) as e:
        clock.read()
    assert e.value.code == "clock.reference_lost" and "unreachable" in str(e.value)


def test_no_reference_answer_no_time() -> None:
    from ts_support import free_port

    client = TSAClient([TSAEndpoint(f"http://127.0.0.1:{free_port()}/tsa", Trust([]))], timeout=0.5, retries=0)
    clock = TrustedClock(reference=TSAReference(client))
    with pytest.raises(UntrustedTimeError) as e:
        clock.now()
    assert e.value.code == "clock.no_reference_time"


class CountingReference:
    """Wraps a real TSAReference and counts the queries (to check the clock does not hammer the TSA)."""

    def __init__(self, inner: TSAReference) -> None:
        self.inner, self.calls, self.name = inner, 0, inner.name

    def sample(self):
        self.calls += 1
        return self.inner.sample()


def test_reference_confirms_a_step_once_not_per_reading(reference_tsa) -> None:
    url, trust = reference_tsa
    import time

    offset = [0.0]
    ref = CountingReference(TSAReference(TSAClient([TSAEndpoint(url, trust)], timeout=2, retries=0)))
    clock = TrustedClock(reference=ref, system=lambda: time.time() + offset[0], resync_interval=60)
    clock.read()
    assert ref.calls == 1
    offset[0] = -300.0
    for _ in range(50):
        clock.read()
    assert ref.calls == 2  # one confirmation for the step, then only reported
    offset[0] = +300.0  # a new step is confirmed again
    clock.read()
    assert ref.calls == 3


def test_resync_with_a_slow_reference_does_not_hold_up_readers(reference_tsa) -> None:
    import time

    from ts_support import slow_app

    url, trust = reference_tsa
    base = time.monotonic()
    shift = [0.0]
    client = TSAClient([TSAEndpoint(url, trust)], timeout=3, total_timeout=3, retries=0)
    clock = TrustedClock(
        reference=TSAReference(client),
        monotonic=lambda: time.monotonic() - base + shift[0],
        system=lambda: time.time() + shift[0],  # 11 s pass on both clocks at once
        resync_interval=10,
        grace=60,
    )
    clock.read()
    with serve(slow_app(2.0)) as slow_base:
        client.endpoints = (TSAEndpoint(slow_base + "/tsa", trust),)
        shift[0] = 11.0  # a resync is due; the reference now takes 2 s to (not) answer
        t0 = time.monotonic()
        for _ in range(20):
            clock.read()
        assert time.monotonic() - t0 < 0.5  # readers went on with the current anchor
        assert clock.status().trusted


def test_reference_mode_step_that_cannot_be_confirmed_is_refused(reference_tsa) -> None:
    import time

    from ts_support import free_port

    url, trust = reference_tsa
    offset = [0.0]
    client = TSAClient([TSAEndpoint(url, trust)], timeout=1, total_timeout=2, retries=0)
    clock = TrustedClock(reference=TSAReference(client), system=lambda: time.time() + offset[0])
    assert clock.is_before(time.time() + 60)
    client.endpoints = (TSAEndpoint(f"http://127.0.0.1:{free_port()}/tsa", trust),)  # the reference goes away
    offset[0] = -300.0
    with pytest.raises(UntrustedTimeError) as e:
        clock.is_before(time.time() + 60)
    assert e.value.code == "clock.skew" and "cannot confirm" in str(e.value)
    assert e.value.skew == pytest.approx(-300, abs=1)
