"""A third-party plugin, pip-installed from its own folder as a separate distribution, is discovered
through its entry point; its hooks fire in the documented order through a whole tender lifecycle; its
route, CLI command and ledger event type work."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import orjson
import pytest
from plugin_support import subprocess_env

from bidkernel.hookspecs import EVENT_HOOKS
from bidkernel.plugins.host import load_plugins
from bidkernel.testing import RunningKernel, start_kernel

ALLOW = {"BIDKERNEL_PLUGINS_ALLOW": "recorder"}


@pytest.fixture
def kernel(recorder_site: Path, tmp_path: Path) -> RunningKernel:
    k = start_kernel(tmp_path, entry_points=True, env=ALLOW)
    yield k
    k.stop()


def test_discovered_through_its_entry_point(recorder_site: Path) -> None:
    eps = {e.name: e for e in metadata.entry_points(group="bidkernel")}
    assert eps["recorder"].dist is not None and eps["recorder"].dist.name == "bidkernel-recorder"
    host = load_plugins(env=ALLOW)
    info = {i.name: i for i in host.info()}
    assert info["recorder"].version == "1.2.3"
    assert info["recorder"].distribution == "bidkernel-recorder"
    assert set(EVENT_HOOKS.values()) <= set(info["recorder"].hooks)
    assert not host.failures


def test_deny_list_and_allow_list(recorder_site: Path) -> None:
    assert "recorder" not in load_plugins(env={"BIDKERNEL_PLUGINS_DENY": "recorder"}).names()
    assert "recorder" not in load_plugins(env={"BIDKERNEL_PLUGINS_ALLOW": "none"}).names()
    assert (
        "recorder"
        not in load_plugins(env={"BIDKERNEL_PLUGINS_ALLOW": "recorder", "BIDKERNEL_PLUGINS_DENY": "recorder"}).names()
    )
    assert "recorder" in load_plugins(env={"BIDKERNEL_PLUGINS_ALLOW": "other,recorder"}).names()


def _write_opening_events(k: RunningKernel, tender_id: str, opened: list[str], failed: str) -> None:
    """The outbox rows the opening recipe writes (its issue builds the recipe; the contract is fixed here)."""
    now = k.platform.now_ms()
    with k.platform.store.transaction() as tx:
        tx.outbox_add(
            "opening.bid_failed",
            f"opening.bid_failed/{failed}",
            orjson.dumps(
                {
                    "tender_id": tender_id,
                    "bid_id": failed,
                    "cause": "digest-mismatch",
                    "code": 2,
                    "attribution": "bidder",
                }
            ),
            now,
        )
        tx.outbox_add(
            "opening.opened",
            f"opening.opened/{tender_id}",
            orjson.dumps({"tender_id": tender_id, "record_index": 7, "opened": opened, "failed": [failed]}),
            now,
        )


def test_hooks_fire_in_lifecycle_order(kernel: RunningKernel) -> None:
    import bidkernel_recorder  # type: ignore[import-not-found]

    k = kernel
    assert bidkernel_recorder.CONFIGURED, "bidkernel_configure was not called"
    t = k.tender()
    k.amend(t["id"])
    r1 = k.submit("bidder-1", t["id"])
    r2 = k.submit("bidder-1", t["id"])
    r3 = k.submit("bidder-2", t["id"])
    k.withdraw("bidder-2", r3["body"]["bid_id"])
    k.close(t["id"])
    _write_opening_events(k, t["id"], [r2["body"]["bid_id"]], r1["body"]["bid_id"])
    k.deliver_all()

    seen = k.client("sup", "supervisor").call("GET", "/plugins/recorder/seen")
    assert [s["hook"] for s in seen] == [
        "bidkernel_tender_published",
        "bidkernel_tender_amended",
        "bidkernel_bid_received",
        "bidkernel_bid_replaced",
        "bidkernel_bid_received",
        "bidkernel_bid_withdrawn",
        "bidkernel_deadline_sealed",
        "bidkernel_bid_failed_to_open",
        "bidkernel_bids_opened",
    ]
    assert [s["key"] for s in seen][2:4] == [
        f"bid.received/{r1['body']['bid_id']}",
        f"bid.replaced/{r2['body']['bid_id']}",
    ]
    # its ledger event type is in the transparency log, once per received bid (not per delivery)
    kinds = k.ledger_kinds()
    assert kinds.count("plugin.recorder.noted") == 2
    assert kinds.index("plugin.recorder.noted") > kinds.index("bid.received")


def test_route_is_behind_the_kernels_authentication(kernel: RunningKernel) -> None:
    from bidkernel.client import ApiError

    with pytest.raises(ApiError) as e:
        kernel.client().call("GET", "/plugins/recorder/seen")
    assert e.value.status == 401 and e.value.problem["type"].endswith("/unauthenticated")
    with pytest.raises(ApiError) as e:
        kernel.client("bidder-9").call("GET", "/plugins/recorder/seen")
    assert e.value.status == 403 and e.value.problem["type"].endswith("/forbidden")
    assert kernel.client("sup", "supervisor").call("GET", "/plugins/recorder/seen") == []
    doc = kernel.client().call("GET", "/openapi.json")
    assert "/plugins/recorder/seen" in doc["paths"]


def test_cli_command_and_plugins_listing(kernel: RunningKernel, recorder_site: Path) -> None:
    t = kernel.tender()
    kernel.deliver_all()
    kernel.stop()
    env = subprocess_env(recorder_site, **ALLOW)
    bk = [sys.executable, "-c", "from bidkernel.cli.main import main; main()"]
    out = subprocess.run(
        [*bk, "recorder", "seen", "--data", str(kernel.platform.data)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"bidkernel_tender_published tender.published/{t['id']}" in out
    listing = subprocess.run([*bk, "plugins", "--json"], env=env, capture_output=True, text=True, check=True).stdout
    doc = orjson.loads(listing)
    rec = next(p for p in doc["plugins"] if p["name"] == "recorder")
    assert rec["version"] == "1.2.3" and "bidkernel_bid_received" in rec["hooks"]
    assert rec["ledger_event_types"] == ["plugin.recorder.noted"]
    helped = subprocess.run([*bk, "recorder", "--help"], env=env, capture_output=True, text=True, check=True).stdout
    assert "bidkernel-recorder 1.2.3" in helped and "seen" in helped
    # denied: the command is gone, the CLI still works
    denied = subprocess.run(
        [*bk, "recorder", "seen", "--data", "x"],
        capture_output=True,
        text=True,
        env=subprocess_env(recorder_site, BIDKERNEL_PLUGINS_DENY="recorder"),
    )
    assert denied.returncode == 2 and "No such command 'recorder'" in denied.stderr
