"""A third-party plugin, pip-installed from its own folder as a separate distribution, is discovered
through its entry point; its hooks fire in the documented order through a whole tender lifecycle; its
route, CLI command and ledger event type work."""

from __future__ import annotations

import os
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


def _corrupt_stored_envelope(k: RunningKernel, receipt: dict[str, object]) -> None:
    """The platform's copy of one envelope of a received bid is damaged after its receipt (Art. 31:
    that bid fails to open, attributed to the platform; the others open on)."""
    envs = receipt["body"]["envelopes"]  # type: ignore[index]
    blob = k.platform.blobs.path(next(e["sm3"] for e in envs if e["name"] != "summary"))
    raw = bytearray(blob.read_bytes())
    raw[-100] ^= 0x55
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(raw))


def test_hooks_fire_in_lifecycle_order(kernel: RunningKernel) -> None:
    import bidkernel_recorder  # type: ignore[import-not-found]

    k = kernel
    assert bidkernel_recorder.CONFIGURED, "bidkernel_configure was not called"
    t = k.tender(quorum=2)
    k.amend(t["id"])
    r1 = k.submit("bidder-1", t["id"])
    r2 = k.submit("bidder-1", t["id"])
    r3 = k.submit("bidder-2", t["id"])
    k.withdraw("bidder-2", r3["body"]["bid_id"])
    r4 = k.submit("bidder-3", t["id"])
    r5 = k.submit("bidder-4", t["id"])
    _corrupt_stored_envelope(k, r5)
    k.close(t["id"])
    # the real opening: platform custody, the kernel's native batch, one envelope corrupted
    st = k.open(t["id"])
    assert st["state"] == "opened"  # r2 and r4 open: quorum 2
    assert [f["bid_id"] for f in st["failures"]] == [r5["body"]["bid_id"]]
    assert st["failures"][0]["cause"] == "digest-mismatch"
    k.deliver_all()

    seen = k.client("sup", "supervisor").call("GET", "/plugins/recorder/seen")
    assert [s["hook"] for s in seen] == [
        "bidkernel_tender_published",
        "bidkernel_tender_amended",
        "bidkernel_bid_received",
        "bidkernel_bid_replaced",
        "bidkernel_bid_received",
        "bidkernel_bid_withdrawn",
        "bidkernel_bid_received",
        "bidkernel_bid_received",
        "bidkernel_deadline_sealed",
        "bidkernel_bid_failed_to_open",
        "bidkernel_bids_opened",
    ]
    # the opening's events are the real opening's: its record in the ledger, the failed bid named
    by_hook = {s["hook"]: s for s in seen}
    assert by_hook["bidkernel_bid_failed_to_open"]["key"] == f"opening.bid_failed/{t['id']}/{r5['body']['bid_id']}"
    assert by_hook["bidkernel_bids_opened"]["key"] == f"opening.opened/{t['id']}"
    assert by_hook["bidkernel_bids_opened"]["data"]["record_index"] == st["record_index"]
    assert sorted(by_hook["bidkernel_bids_opened"]["data"]["opened"]) == sorted(
        [r2["body"]["bid_id"], r4["body"]["bid_id"]]
    )
    assert by_hook["bidkernel_bid_failed_to_open"]["data"]["attribution"] == "not-bidder"
    assert [s["key"] for s in seen][2:4] == [
        f"bid.received/{r1['body']['bid_id']}",
        f"bid.replaced/{r2['body']['bid_id']}",
    ]
    # its ledger event type is in the transparency log, once per received bid (not per delivery)
    kinds = k.ledger_kinds()
    assert kinds.count("plugin.recorder.noted") == 4
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
