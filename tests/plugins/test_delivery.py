"""The deliverer's schedule on an injected clock (no sleeping): exponential backoff, dead letters after the
last attempt, per-plugin commit order (a later event waits while an earlier one is retried; a dead letter
ends the wait), other plugins unaffected, events without an implementing plugin marked delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bidkernel.hookspecs import hookimpl
from bidkernel.platform import Platform
from bidkernel.plugins import OutboxEvent, PluginKernel
from bidkernel.plugins.delivery import Deliverer, DeliveryPolicy, outbox_view
from bidkernel.plugins.host import PluginHost


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


class Flaky:
    """Fails the first ``fail[key]`` attempts of each event key; records (key, attempt, time)."""

    def __init__(self, clock: Clock, fail: dict[str, int]) -> None:
        self.clock, self.fail, self.calls = clock, fail, []

    @hookimpl
    def bidkernel_bid_received(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        self.calls.append((event.key, event.attempt, self.clock.ms))
        if event.attempt <= self.fail.get(event.key, 0):
            raise ConnectionError("gateway down")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform.open(tmp_path / "data")
    yield p
    p.close()


def _events(p: Platform, *keys: str, kind: str = "bid.received") -> None:
    with p.store.transaction() as tx:
        for k in keys:
            tx.outbox_add(kind, k, orjson.dumps({"tender_id": "t-1", "bid_id": k}), 1)


def _deliverer(p: Platform, clock: Clock, *plugins: tuple[str, object], attempts: int = 4) -> Deliverer:
    host = PluginHost(data=p.data, env={})
    for name, obj in plugins:
        host.register(obj, name)
    host.attach(p)
    policy = DeliveryPolicy(timeout_s=5, max_attempts=attempts, backoff_base_ms=1000, backoff_max_ms=4000)
    return Deliverer(p, host, policy=policy, now_ms=clock)


def _round(d: Deliverer) -> int:
    return asyncio.run(d.deliver_once())


def test_exponential_backoff_then_success(platform: Platform) -> None:
    clock = Clock()
    a = Flaky(clock, {"e1": 3})
    d = _deliverer(platform, clock, ("a", a), attempts=5)
    _events(platform, "e1")
    t0 = clock.ms
    for dt in (0, 999, 1000, 2999, 3000, 6999, 7000):
        clock.ms = t0 + dt
        _round(d)
    assert a.calls == [("e1", 1, t0), ("e1", 2, t0 + 1000), ("e1", 3, t0 + 3000), ("e1", 4, t0 + 7000)]
    assert outbox_view(platform, state="pending") == []


def test_backoff_is_capped(platform: Platform) -> None:
    assert DeliveryPolicy(backoff_base_ms=1000, backoff_max_ms=4000).backoff_ms(10) == 4000
    assert [DeliveryPolicy(backoff_base_ms=500).backoff_ms(n) for n in (1, 2, 3)] == [500, 1000, 2000]


def test_per_plugin_order_and_other_plugins_unaffected(platform: Platform) -> None:
    clock = Clock()
    a, b = Flaky(clock, {"e1": 1}), Flaky(clock, {})
    d = _deliverer(platform, clock, ("a", a), ("b", b))
    _events(platform, "e1", "e2")
    _round(d)
    assert [c[0] for c in a.calls] == ["e1"]  # e2 waits behind the failed e1 ...
    assert [c[0] for c in b.calls] == ["e1", "e2"]  # ... for a only
    pending = {e["key"]: e for e in outbox_view(platform, state="pending")}
    assert set(pending) == {"e1", "e2"}
    clock.ms += 1000
    _round(d)
    assert [(k, n) for k, n, _ in a.calls] == [("e1", 1), ("e1", 2), ("e2", 1)]
    assert len(b.calls) == 2 and outbox_view(platform, state="pending") == []


def test_a_dead_letter_ends_the_wait(platform: Platform) -> None:
    clock = Clock()
    a = Flaky(clock, {"e1": 99})
    d = _deliverer(platform, clock, ("a", a), attempts=2)
    _events(platform, "e1", "e2")
    _round(d)
    clock.ms += 1000
    _round(d)
    assert [(k, n) for k, n, _ in a.calls] == [("e1", 1), ("e1", 2), ("e2", 1)]
    dead = outbox_view(platform, state="dead")
    assert [e["key"] for e in dead] == ["e1"]
    assert dead[0]["deliveries"][0]["last_error"] == "ConnectionError: gateway down"
    assert dead[0]["delivered_ms"] is not None  # settled: nobody retries it until an operator replays it
    clock.ms += 60_000
    _round(d)
    assert len(a.calls) == 3


def test_events_nobody_implements_are_settled_without_calls(platform: Platform) -> None:
    clock = Clock()
    a = Flaky(clock, {})
    d = _deliverer(platform, clock, ("a", a))
    _events(platform, "t1", kind="tender.published")
    _events(platform, "x1", kind="opening.something_new")
    assert _round(d) == 0
    assert a.calls == [] and outbox_view(platform, state="pending") == []


def test_an_event_that_kills_the_process_every_time_is_dead_lettered(platform: Platform) -> None:
    """Each attempt is recorded before its call; a process that dies in the call leaves that record. Here the
    records of max_attempts interrupted attempts are what three crashed restarts would have left."""
    from bidkernel.store.base import DeliveryRow

    clock = Clock()
    a = Flaky(clock, {})
    d = _deliverer(platform, clock, ("a", a), attempts=3)
    _events(platform, "poison", "next")
    [ev] = [e for e in outbox_view(platform) if e["key"] == "poison"]
    with platform.store.transaction() as tx:
        tx.delivery_put(DeliveryRow(ev["id"], "a", "retry", 3, clock.ms, "interrupted: the process ended", clock.ms))
    _round(d)
    assert [k for k, _n, _t in a.calls] == ["next"]  # the poison event is not called a fourth time
    [dead] = outbox_view(platform, state="dead")
    assert dead["key"] == "poison" and dead["deliveries"][0]["attempts"] == 3


def test_the_attempt_is_recorded_before_the_call(platform: Platform) -> None:
    clock = Clock()
    seen: list[dict[str, object]] = []

    class Peek:
        @hookimpl
        def bidkernel_bid_received(self, event: OutboxEvent, kernel: PluginKernel) -> None:
            [e] = outbox_view(platform)
            seen.append(e["deliveries"][0])

    d = _deliverer(platform, clock, ("peek", Peek()))
    _events(platform, "e1")
    _round(d)
    assert seen[0]["state"] == "retry" and seen[0]["attempts"] == 1
    assert str(seen[0]["last_error"]).startswith("interrupted")
    assert outbox_view(platform)[0]["deliveries"][0]["state"] == "done"
