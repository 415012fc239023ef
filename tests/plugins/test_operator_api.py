"""The operator's HTTP view of plugins and delivery: bad input gets a stable problem and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bidkernel.client import ApiError
from bidkernel.hookspecs import hookimpl
from bidkernel.plugins import OutboxEvent, PluginKernel
from bidkernel.testing import RunningKernel, start_kernel


class Quiet:
    @hookimpl
    def bidkernel_tender_published(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        pass


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[RunningKernel]:
    k = start_kernel(tmp_path, plugins=[("quiet", Quiet())])
    yield k
    k.stop()


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "kind"),
    [
        ("GET", "/admin/outbox?state=bogus", None, 400, "bad-request"),
        ("GET", "/admin/outbox?limit=-1", None, 400, "bad-request"),
        ("POST", "/admin/outbox/abc/replay", None, 404, "not-found"),
        ("POST", "/admin/outbox/99999/replay", None, 404, "not-found"),
        ("POST", "/admin/outbox/1/replay", {"plugin": 5}, 400, "bad-request"),
    ],
)
def test_bad_operator_requests(
    kernel: RunningKernel, method: str, url: str, body: object, status: int, kind: str
) -> None:
    kernel.tender()
    kernel.deliver_all()
    op = kernel.client("op", "operator")
    before = op.call("GET", "/admin/outbox")
    with pytest.raises(ApiError) as e:
        op.call(method, url, body)
    assert (e.value.status, e.value.kind) == (status, kind), e.value.problem
    assert e.value.problem["type"] == f"https://bidkernel.dev/problems/{kind}"
    assert op.call("GET", "/admin/outbox") == before


def test_plugins_listing_and_delivered_view(kernel: RunningKernel) -> None:
    t = kernel.tender()
    kernel.deliver_all()
    sup = kernel.client("sup", "supervisor")
    doc = sup.call("GET", "/admin/plugins")
    assert [(p["name"], p["builtin"]) for p in doc["plugins"]] == [("kernel", True), ("quiet", False)]
    assert doc["plugins"][1]["hooks"] == ["bidkernel_tender_published"] and doc["failures"] == []
    [ev] = sup.call("GET", "/admin/outbox")
    assert ev["key"] == f"tender.published/{t['id']}" and ev["delivered_ms"] is not None
    assert ev["deliveries"] == [{"plugin": "quiet", "state": "done", "attempts": 1, "next_ms": 0, "last_error": ""}]
    assert sup.call("GET", "/admin/outbox?state=pending") == []
    with pytest.raises(ApiError) as e:
        sup.call("POST", f"/admin/outbox/{ev['id']}/replay")
    assert e.value.status == 403
    op = kernel.client("op", "operator")
    assert op.call("POST", f"/admin/outbox/{ev['id']}/replay") == {"event_id": ev["id"], "replayed": 0}
