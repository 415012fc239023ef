"""Capability-scoped handles: public tender data only, the plugin's own storage, ledger events in its own
namespace (declared types only), the platform signature only through an audited call, and no bid
plaintext before the opening — refused by the handle, not by convention."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bidkernel.client import ApiError
from bidkernel.crypto import sm2
from bidkernel.crypto.x509 import Certificate
from bidkernel.hookspecs import hookimpl
from bidkernel.ledger.events import decode_leaf
from bidkernel.plugins import OutboxEvent, PluginKernel, PluginRoute, RouteCall
from bidkernel.problems import KernelError
from bidkernel.store.base import TenderRow
from bidkernel.testing import RunningKernel, start_kernel


class Peeker:
    """Reaches for the plaintext of every bid it hears about, from its hook and from its route."""

    def __init__(self) -> None:
        self.refusals: list[str] = []

    @hookimpl
    def bidkernel_bid_received(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        try:
            kernel.bid_plaintext(event.data["tender_id"], event.data["bid_id"], "summary")
        except KernelError as exc:
            self.refusals.append(exc.kind)
            return
        self.refusals.append("GOT PLAINTEXT")

    @hookimpl
    def bidkernel_routes(self) -> list[PluginRoute]:
        def peek(call: RouteCall) -> Any:
            return call.kernel.bid_plaintext(call.query["tender"], call.query["bid"], "summary").decode()

        return [PluginRoute("GET", "/peek", peek, access="public")]

    @hookimpl
    def bidkernel_ledger_event_types(self) -> list[str]:
        return ["looked"]


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[RunningKernel]:
    k = start_kernel(tmp_path, plugins=[("peeker", Peeker()), ("other", Peeker())])
    yield k
    k.stop()


def _set_state(k: RunningKernel, tender_id: str, state: str) -> None:
    with k.platform.store.transaction() as tx:
        row = tx.tender_get(tender_id)
        assert row is not None
        doc = orjson.loads(row.doc)
        doc["state"] = state
        tx.tender_put(TenderRow(row.id, row.agency_org, state, row.deadline_ms, row.sealed, orjson.dumps(doc)))


def test_plugin_reaching_for_plaintext_before_the_opening_is_refused(kernel: RunningKernel) -> None:
    k = kernel
    peeker: Peeker = k.host.plugin("peeker")  # type: ignore[assignment]
    t = k.tender()
    bid = k.submit("bidder-1", t["id"])["body"]["bid_id"]
    k.deliver_all()
    assert peeker.refusals == ["too-early"]
    with pytest.raises(ApiError) as e:
        k.client().call("GET", f"/plugins/peeker/peek?tender={t['id']}&bid={bid}")
    assert e.value.status == 409 and e.value.problem["type"].endswith("/too-early")


def test_plaintext_needs_both_the_opening_time_and_the_opened_state(
    kernel: RunningKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    k = kernel
    h = k.host.handle("peeker")
    t = k.tender()
    bid = k.submit("bidder-1", t["id"])["body"]["bid_id"]

    def kind() -> str:
        with pytest.raises(KernelError) as e:
            h.bid_plaintext(t["id"], bid, "summary")
        return e.value.kind

    assert kind() == "too-early"  # open tender
    _set_state(k, t["id"], "opened")
    assert kind() == "too-early"  # "opened" by a bug before the opening time: the clock still refuses
    _set_state(k, t["id"], "published")
    k.close(t["id"])
    assert kind() == "too-early"  # past the opening time, not opened yet
    _set_state(k, t["id"], "opened")
    monkeypatch.setitem(sys.modules, "bidkernel.opening", None)  # the opening recipe not installed
    assert kind() == "unavailable"
    calls = []

    def read_plaintext(platform: object, tender_id: str, bid_id: str, envelope: str) -> bytes:
        calls.append((platform, tender_id, bid_id, envelope))
        return b"price=1000"

    monkeypatch.setitem(sys.modules, "bidkernel.opening", types.SimpleNamespace(read_plaintext=read_plaintext))
    assert h.bid_plaintext(t["id"], bid, "summary") == b"price=1000"  # delegated to the opening recipe
    assert calls == [(k.platform, t["id"], bid, "summary")]


def test_storage_is_namespaced_per_plugin(kernel: RunningKernel) -> None:
    a, b = kernel.host.handle("peeker"), kernel.host.handle("other")
    a.storage.put("k", b"mine")
    assert b.storage.get("k") is None
    b.storage.put("k", b"theirs")
    assert a.storage.get("k") == b"mine" and a.storage.keys() == ["k"]
    a.storage.delete("k")
    assert a.storage.get("k") is None and b.storage.get("k") == b"theirs"
    for bad in ("", "x" * 257):
        with pytest.raises(KernelError):
            a.storage.put(bad, b"v")
    with pytest.raises(KernelError):
        a.storage.put("k", "not bytes")  # type: ignore[arg-type]


def test_ledger_events_only_in_the_plugins_namespace_and_declared(kernel: RunningKernel) -> None:
    h = kernel.host.handle("peeker")
    idx = h.log_event("looked", {"n": 1})
    assert decode_leaf(kernel.platform.log.leaf(idx)).kind == "plugin.peeker.looked"
    for forged in ("received", "../bid.received", "bid.received"):
        with pytest.raises(KernelError):
            h.log_event(forged, {})
    size = kernel.platform.log.size
    with pytest.raises(KernelError):
        kernel.host.handle("other").log_event("nope", {})
    assert kernel.platform.log.size == size


def test_platform_signature_only_through_an_audited_call(kernel: RunningKernel) -> None:
    h = kernel.host.handle("peeker")
    msg = "合同 contract 42".encode()
    signed = h.sign("e-contract", msg)
    cert = Certificate.from_pem(kernel.platform.pki.platform.certificate.to_pem())
    assert sm2.verify(cert.public_key, msg, signed.signature, id=sm2.DEFAULT_ID, fmt="der")
    ev = decode_leaf(kernel.platform.log.leaf(signed.log_index))
    from bidkernel.crypto.sm3 import sm3

    assert ev.kind == "plugin.peeker.signed"
    assert dict(ev.data) == {"purpose": "e-contract", "message_sm3": sm3(msg).hex()}
    with pytest.raises(KernelError):
        h.sign("", msg)


def test_public_tender_data_only(kernel: RunningKernel) -> None:
    h = kernel.host.handle("peeker")
    draft = kernel.tender(publish=False)
    with pytest.raises(KernelError) as e:
        h.tender(draft["id"])
    assert e.value.kind == "not-found"
    t = kernel.tender()
    view = h.tender(t["id"])
    assert view["state"] == "open" and "agency" not in view  # no agency certificate fingerprint
    assert [x["id"] for x in h.tenders()] == [t["id"]]
    assert "platform" not in repr(h).lower() and not hasattr(h, "platform")


def test_notices_and_timestamps_through_providers(kernel: RunningKernel) -> None:
    h = kernel.host.handle("peeker")
    h.notify("agency-a", "开标提醒", "opening at 10:00")
    lines = (kernel.platform.data / "notices.jsonl").read_text(encoding="utf-8").splitlines()
    assert orjson.loads(lines[-1]) == {"recipient": "agency-a", "subject": "开标提醒", "body": "opening at 10:00"}
    token = h.timestamp(b"data")
    from bidkernel.crypto.sm3 import sm3
    from bidkernel.timestamp.verify import describe_token

    info = describe_token(token)
    assert info.message_imprint == sm3(b"data") and info.hash_algorithm == "sm3"
