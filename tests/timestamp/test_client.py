"""The external-TSA client against real TSAs on loopback (uvicorn): success, a TSA that is down, one that is
slow, one whose tokens do not verify, one whose clock is untrusted; never back-dating, never a silent drop to
a local clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ts_pki import Issued, make_ca
from ts_support import ManualTime, build_authority, free_port, serve, slow_app

from bidkernel.api.app import create_app
from bidkernel.timestamp import Digest, Trust, TrustedClock, TSAUnavailable, verify_token
from bidkernel.timestamp.client import TSAClient, TSAEndpoint


@pytest.fixture
def good_tsa(tsa_cert: Issued, ca: Issued, tmp_path: Path):
    with serve(create_app(tsa=build_authority(tsa_cert, tmp_path / "good.sqlite"))) as base:
        yield TSAEndpoint(base + "/tsa", Trust([ca.cert]), name="good")


def down(trust: Trust) -> TSAEndpoint:
    return TSAEndpoint(f"http://127.0.0.1:{free_port()}/tsa", trust, name="down")


def test_stamp_from_a_real_tsa(good_tsa: TSAEndpoint) -> None:
    client = TSAClient([good_tsa])
    token = client.stamp(b"receipt 1")
    info = verify_token(token, b"receipt 1", good_tsa.trust)
    assert abs(info.gen_time.timestamp() - time.time()) < 2
    issued = client.request(Digest("sha256", bytes(32)))
    assert issued.endpoint == "good" and issued.attempts == 1 and issued.info.nonce is not None


def test_down_tsa_falls_back_to_the_next(good_tsa: TSAEndpoint) -> None:
    sleeps: list[float] = []
    client = TSAClient([down(good_tsa.trust), good_tsa], retries=2, backoff=0.05, sleep=sleeps.append)
    issued = client.request(b"bid")
    assert issued.endpoint == "good"
    assert sleeps == [0.05, 0.1]  # two retries with exponential backoff on the down TSA, then the fallback


def test_slow_tsa_times_out_then_falls_back(good_tsa: TSAEndpoint) -> None:
    # The slow TSA would hold the request 6 s; the 0.3 s timeout must cut it (bound left loose for a loaded CI).
    with serve(slow_app(6.0)) as slow_base:
        slow = TSAEndpoint(slow_base + "/tsa", good_tsa.trust, name="slow")
        client = TSAClient([slow, good_tsa], timeout=0.3, retries=0, total_timeout=10)
        t0 = time.monotonic()
        issued = client.request(b"bid")
        elapsed = time.monotonic() - t0
    assert issued.endpoint == "good" and elapsed < 4.0


def test_all_down_raises_within_total_timeout(ca: Issued) -> None:
    with serve(slow_app(6.0)) as slow_base:
        trust = Trust([ca.cert])
        slow = TSAEndpoint(slow_base + "/tsa", trust, name="slow")
        # Without the total timeout: 4 attempts x 1 s + backoff ~ 4.4 s before the next TSA is even tried.
        client = TSAClient([slow, down(trust)], timeout=1.0, retries=3, backoff=0.05, total_timeout=1.5)
        t0 = time.monotonic()
        with pytest.raises(TSAUnavailable) as e:
            client.stamp(b"bid")
        elapsed = time.monotonic() - t0
    assert elapsed < 3.5
    assert e.value.code == "timestamp.tsa_unavailable" and "slow" in str(e.value)


def test_tsa_with_untrusted_certificate_is_skipped(good_tsa: TSAEndpoint, tmp_path: Path) -> None:
    other = make_ca(tmp_path, "Not Our Root")
    wrong_trust = TSAEndpoint(good_tsa.url, Trust([other.cert]), name="unverifiable")
    client = TSAClient([wrong_trust, good_tsa], retries=3)
    issued = client.request(b"bid")
    assert issued.endpoint == "good"
    with pytest.raises(TSAUnavailable) as e:
        TSAClient([wrong_trust], retries=3).request(b"bid")
    assert "untrusted_certificate" in str(e.value) and "attempt 2" not in str(e.value)  # no retry of a bad token


def test_never_back_dates(good_tsa: TSAEndpoint) -> None:
    client = TSAClient([good_tsa])
    future = datetime.now(UTC) + timedelta(seconds=30)  # the event is known to be later than the TSA's time
    with pytest.raises(TSAUnavailable) as e:
        client.request(b"bid", not_before=future)
    assert "back-date" in str(e.value)
    assert client.request(b"bid", not_before=datetime.now(UTC) - timedelta(seconds=1)).info


def test_tsa_with_untrusted_clock_is_not_replaced_by_a_local_clock(
    tsa_cert: Issued, ca: Issued, tmp_path: Path
) -> None:
    t = ManualTime(time.time())
    clock = TrustedClock(system=t.system, monotonic=t.monotonic)
    t.step_system(300)
    with serve(create_app(tsa=build_authority(tsa_cert, tmp_path / "s", clock=clock))) as base:
        sleeps: list[float] = []
        client = TSAClient([TSAEndpoint(base + "/tsa", Trust([ca.cert]))], retries=2, backoff=0.01, sleep=sleeps.append)
        with pytest.raises(TSAUnavailable) as e:
            client.stamp(b"bid")
    assert "timeNotAvailable" in str(e.value) and len(sleeps) == 2  # retried, then refused: no token at all


def test_digest_for_another_algorithm_is_not_sent(good_tsa: TSAEndpoint) -> None:
    with pytest.raises(TSAUnavailable, match="needs a sha256 imprint"):
        TSAClient([good_tsa]).request(Digest("sm3", bytes(32)))


def test_wrong_content_type_server_is_skipped(good_tsa: TSAEndpoint) -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def html(_request):
        return Response(b"<html>", media_type="text/html")

    with serve(Starlette(routes=[Route("/tsa", html, methods=["POST"])])) as base:
        client = TSAClient([TSAEndpoint(base + "/tsa", good_tsa.trust, name="html"), good_tsa])
        assert client.request(b"x").endpoint == "good"
