"""The portal plugin through a whole tender, against a real kernel (bidkernel.testing fixtures)."""

from __future__ import annotations

import json
from typing import Any

import bidkernel_portal
import orjson
import pytest
from click.testing import CliRunner

from bidkernel.client import ApiError
from bidkernel.crypto.sm3 import sm3
from bidkernel.ledger.events import decode_leaf
from bidkernel.testing import PluginConformance, RunningKernel


class TestConformance(PluginConformance):
    plugin_name = "portal"
    plugin = bidkernel_portal


def _lifecycle(k: RunningKernel) -> dict[str, Any]:
    t = k.tender()
    k.amend(t["id"], "开标时间不变，补充资格条件")
    r = k.submit("bidder-1", t["id"])
    k.submit("bidder-2", t["id"])
    k.close(t["id"])
    k.deliver_all()
    return {"tender": t, "receipt": r}


def test_notices_through_the_lifecycle(bk_kernel: RunningKernel) -> None:
    k = bk_kernel
    t = _lifecycle(k)["tender"]
    feed = k.client().call("GET", "/plugins/portal/feed")  # public
    assert [n["type"] for n in feed] == ["tender", "amendment", "closing"]
    assert feed[0]["title"] == t["title"] and feed[1]["note"] == "开标时间不变，补充资格条件"
    assert feed[2]["bids_received"] == 2
    assert k.client().call("GET", f"/plugins/portal/tenders/{t['id']}") == feed
    with pytest.raises(ApiError) as e:
        k.client().call("GET", "/plugins/portal/tenders/t-0000000000000000")
    assert e.value.status == 404
    # nothing about bidders, ever
    text = json.dumps(feed, ensure_ascii=False)
    assert "bidder" not in text and all(i.certificate.fingerprint.hex() not in text for i in k.ids.values())


def test_each_notice_is_in_the_transparency_log(bk_kernel: RunningKernel) -> None:
    k = bk_kernel
    _lifecycle(k)
    feed = k.client().call("GET", "/plugins/portal/feed")
    logged = [decode_leaf(leaf) for _i, leaf in k.platform.log.iter_leaves()]
    records = [e.data for e in logged if e.kind == "plugin.portal.announcement_published"]
    assert [r["type"] for r in records] == ["tender", "amendment", "closing"]
    for rec, notice in zip(records, feed, strict=True):
        body = json.dumps(notice, ensure_ascii=False, sort_keys=True).encode()
        assert rec["notice_sm3"] == sm3(body).hex()  # the portal shows exactly what the log commits to


def test_no_notice_before_the_deadline_and_exported_files(bk_kernel: RunningKernel) -> None:
    k = bk_kernel
    t = k.tender()
    k.submit("bidder-1", t["id"])
    k.deliver_all()
    assert [n["type"] for n in k.client().call("GET", "/plugins/portal/feed")] == ["tender"]
    export = k.platform.data / "plugins" / "portal"
    assert json.loads((export / "feed.json").read_text(encoding="utf-8"))[0]["tender_id"] == t["id"]
    assert (export / f"tender.published_{t['id']}.json").exists()


def test_redelivery_publishes_nothing_twice(bk_kernel: RunningKernel) -> None:
    import asyncio

    from bidkernel.plugins.contract import OutboxEvent
    from bidkernel.plugins.handles import event_payload

    k = bk_kernel
    k.tender()
    k.deliver_all()
    size = k.platform.log.size
    with k.platform.store.reader() as r:
        row = r.outbox_list()[0]
    ev = OutboxEvent(row.id, row.kind, row.key, row.created_ms, event_payload(row.payload), 2)
    [(name, fn)] = k.host.event_impls("bidkernel_tender_published")
    assert asyncio.run(k.deliverer._call(fn, ev, name)) is None
    assert k.platform.log.size == size and len(k.client().call("GET", "/plugins/portal/feed")) == 1


def test_feed_command(bk_kernel: RunningKernel) -> None:
    k = bk_kernel
    t = k.tender()
    k.deliver_all()
    k.stop()
    data = str(k.platform.data)
    res = CliRunner().invoke(bidkernel_portal.feed_cmd, ["--data", data, "--json"])
    assert res.exit_code == 0, res.output
    assert orjson.loads(res.output)[0]["tender_id"] == t["id"]
    res = CliRunner().invoke(bidkernel_portal.feed_cmd, ["--data", data])
    assert "招标公告" in res.output and t["id"] in res.output
    res = CliRunner().invoke(bidkernel_portal.feed_cmd, ["--data", str(k.platform.data / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    empty = k.platform.data.parent / "not-a-kernel"
    empty.mkdir()
    res = CliRunner().invoke(bidkernel_portal.feed_cmd, ["--data", str(empty)])
    assert res.exit_code == 1 and "not a kernel data directory" in res.output
    assert list(empty.iterdir()) == []  # nothing created


def test_mounted_as_bidkernel_portal_when_installed(bk_kernel: RunningKernel) -> None:
    """The installed distribution's entry point mounts the command under `bidkernel portal` (CI installs it)."""
    from importlib import metadata

    from bidkernel.cli.main import build_cli

    names = {e.name for e in metadata.entry_points(group="bidkernel")}
    cli = build_cli()
    assert ("portal" in cli.commands) == ("portal" in names)
    if "portal" in names:
        res = CliRunner().invoke(cli, ["portal", "feed", "--data", str(bk_kernel.platform.data)])
        assert res.exit_code == 0, res.output
