"""Issue 7 gaps, against a real server on loopback: bids tied to lots (wrong lot refused, replacement per
lot, the closing record per lot), per-client rate limits (429 + Retry-After), the operator's role
registry (grant overrides the certificate, revocation denies, ledger events), replay protection across
a restart, the 15-day amendment rule, and receipts served as stored."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from intake_support import Kernel, start_kernel
from test_bad_input import _expect, _raise

from bidkernel.authn import sign_headers
from bidkernel.cli.main import build_cli
from bidkernel.client import ApiError
from bidkernel.ledger.events import decode_leaf
from bidkernel.platform import Limits
from bidkernel.receipt import verify_receipt


def _closing(k: Kernel, tid: str) -> dict[str, Any]:
    for _ in range(200):
        try:
            return dict(k.client().call("GET", f"/tenders/{tid}/closing"))
        except ApiError:
            time.sleep(0.05)
    raise AssertionError("the tender was not sealed")


def test_wrong_lot_is_refused_and_leaves_nothing(kernel: Kernel) -> None:
    k = kernel
    t = k.tender()  # lots "1" and "2"
    tid = t["id"]
    k.client("b1").submit(tid, k.seal("b1", tid))  # some state to keep intact
    _expect(k, lambda: k.client("b2").submit(tid, k.seal("b2", tid, lot="9")), 422, "wrong-lot")
    _expect(k, lambda: k.client("b2").submit(tid, k.seal("b2", tid, lot=None)), 422, "wrong-lot")
    _expect(k, lambda: k.client("b2").submit(tid, k.seal("b2", tid, lot="1"), lot="2"), 422, "wrong-lot")
    # the lot may be named by the request instead of the manifest
    r = k.client("b2").submit(tid, k.seal("b2", tid, lot=None), lot="2")
    assert r["body"]["lot"] == "2"
    # a tender with one lot needs no lot
    pem = k.opening_cert().certificate.to_pem().decode()
    single = k.client("agency-a").call(
        "POST", "/tenders", {"title": "one lot", "deadline": t["deadline"], "opening_certificates": [pem]}
    )
    k.client("agency-a").call("POST", f"/tenders/{single['id']}/publish")
    assert k.client("b2").submit(single["id"], k.seal("b2", single["id"], lot=None))["body"]["lot"] == "1"
    # lots are validated at creation
    with pytest.raises(ApiError) as e:
        lots = [{"id": "1", "name": "a"}, {"id": "1", "name": "b"}]
        k.client("agency-a").call(
            "POST", "/tenders", {"title": "x", "deadline": t["deadline"], "lots": lots, "opening_certificates": [pem]}
        )
    assert e.value.kind == "bad-request"


def test_latest_submission_counts_per_lot(kernel: Kernel) -> None:
    k = kernel
    t = k.tender(seconds=60)
    tid = t["id"]
    c = k.client("b1")
    lot1 = c.submit(tid, k.seal("b1", tid, lot="1"))
    lot2 = c.submit(tid, k.seal("b1", tid, lot="2"))
    assert lot2["body"]["kind"] == "bid.received" and lot2["body"]["replaces"] is None  # another lot: no replace
    lot1b = c.submit(tid, k.seal("b1", tid, lot="1", tag="2"))
    assert lot1b["body"]["kind"] == "bid.replaced" and lot1b["body"]["replaces"] == lot1["body"]["bid_id"]
    other = k.client("b2").submit(tid, k.seal("b2", tid, lot="2"))
    w = c.call("POST", f"/bids/{lot2['body']['bid_id']}/withdraw")
    assert w["body"]["lot"] == "2"
    for r in (lot1, lot2, lot1b, other, w):
        verify_receipt(r)
    rows = {b["id"]: b for b in c.call("GET", f"/tenders/{tid}/bids")}
    assert {i: (b["lot"], b["status"]) for i, b in rows.items()} == {
        lot1["body"]["bid_id"]: ("1", "replaced"),
        lot2["body"]["bid_id"]: ("2", "withdrawn"),
        lot1b["body"]["bid_id"]: ("1", "live"),
    }
    k.time.offset += 61
    closing = _closing(k, tid)
    assert closing["lots"] == {"1": [lot1b["body"]["bid_id"]], "2": [other["body"]["bid_id"]]}
    assert sorted(closing["live_bids"]) == sorted([lot1b["body"]["bid_id"], other["body"]["bid_id"]])
    sealed = decode_leaf(k.platform.log.leaf(closing["log_index"]))
    assert sealed.data["lots"] == closing["lots"]


def test_receipt_is_served_as_stored(kernel: Kernel) -> None:
    k = kernel
    t = k.tender()
    pkg = k.seal("b1", t["id"])
    b1 = k.ids["b1"]
    path = f"/tenders/{t['id']}/bids"
    h = sign_headers(b1.key, b1.certificate, "POST", path, body_sm3=pkg.body_sm3())
    status, _h, issued = k.client().raw("POST", path, pkg.chunks(), length=pkg.length(), headers=h, sign=False)
    assert status == 201
    bid_id = orjson.loads(issued)["body"]["bid_id"]
    k.platform.log.checkpoint()  # the log moves on: a re-issued receipt would differ
    k.client("b3").submit(t["id"], k.seal("b3", t["id"]))
    for who in ("b1", "supervisor"):
        if who == "supervisor":
            k.identity("supervisor", "supervisor")
        status, headers, served = k.client(who).raw("GET", f"/bids/{bid_id}/receipt")
        assert status == 200 and headers["bk-receipt"] == "as-issued"
        assert served == issued  # byte for byte


def test_rate_limit_per_certificate(tmp_path: Path) -> None:
    k = start_kernel(tmp_path, limits=Limits(client_rate=0.001, client_burst=3))
    try:
        k.identity("b1", "bidder")
        for _ in range(3):
            k.client("b1").call("GET", "/tenders")
        status, headers, data = k.client("b1").raw("GET", "/tenders")
        problem = orjson.loads(data)
        assert status == 429 and problem["type"] == "https://bidkernel.dev/problems/rate-limited"
        assert int(headers["retry-after"]) >= 1
        # another certificate has its own budget; the public is not charged to anyone
        k.client("b2").call("GET", "/tenders")
        assert k.client().raw("GET", "/tenders")[0] == 200
        status, _h, metrics = k.client().raw("GET", "/metrics")
        assert b"bidkernel_rate_limited_total 1.0" in metrics
    finally:
        k.stop()


def test_role_registry_overrides_and_denies(kernel: Kernel, tmp_path: Path) -> None:
    k = kernel
    t = k.tender()
    op = k.identity("op", "operator")
    b1 = k.identity("b1", "bidder")
    r = k.client("b1").submit(t["id"], k.seal("b1", t["id"]))
    # a certificate whose OU names no role acts only once granted one
    plain = k.identity("plain-co", "none", "Plain Co")
    _expect(k, lambda: k.client("plain-co").call("GET", f"/tenders/{t['id']}/bids"), 403, "forbidden")
    # the CLI goes through the operator endpoint (signed by the operator's certificate)
    key, cert = tmp_path / "op.key", tmp_path / "op.pem"
    key.write_bytes(op.key.to_pkcs8(True))
    cert.write_bytes(op.certificate.to_pem())
    plain_pem = tmp_path / "plain.pem"
    plain_pem.write_bytes(plain.certificate.to_pem())
    cli = build_cli()
    common = ["--server", k.url, "--key", str(key), "--cert", str(cert)]
    out = CliRunner().invoke(cli, ["roles", "grant", str(plain_pem), "--role", "bidder", "--org", "Plain Co", *common])
    assert out.exit_code == 0, out.output
    assert k.client("plain-co").call("GET", f"/tenders/{t['id']}/bids") == []
    # revocation overrides the certificate's own OU=bidder
    fp = b1.certificate.fingerprint.hex()
    out = CliRunner().invoke(cli, ["roles", "revoke", fp, "--reason", "left the consortium", *common])
    assert out.exit_code == 0, out.output
    _expect(k, lambda: k.client("b1").call("GET", f"/bids/{r['body']['bid_id']}"), 403, "role-revoked")
    _expect(k, lambda: k.client("b1").submit(t["id"], k.seal("b1", t["id"], tag="2")), 403, "role-revoked")
    out = CliRunner().invoke(cli, ["roles", "list", *common])
    assert out.exit_code == 0 and fp in out.output and "revoked" in out.output
    # only the operator manages roles; bad input is refused clearly
    promote = {"action": "grant", "fingerprint": fp, "role": "operator", "org": "x"}
    _expect(k, lambda: k.client("b2").call("POST", "/admin/roles", promote), 403, "forbidden")
    for bad in ({"action": "grant", "fingerprint": fp, "role": "king", "org": "x"},
                {"action": "promote", "fingerprint": fp}, {"action": "revoke", "fingerprint": "12"}):  # fmt: skip
        _expect(k, lambda bad=bad: k.client("op").call("POST", "/admin/roles", bad), 400, "bad-request")
    out = CliRunner().invoke(cli, ["roles", "grant", "nonsense", "--role", "bidder", "--org", "x", *common])
    assert out.exit_code != 0 and "fingerprint" in out.output
    # both changes are ledger events naming the operator
    events = [decode_leaf(leaf) for _i, leaf in k.platform.log.iter_leaves()]
    role_events = [(e.kind, e.data["fp"]) for e in events if e.kind.startswith("role.")]
    assert role_events == [("role.granted", plain.certificate.fingerprint.hex()), ("role.revoked", fp)]
    assert all(e.data["by"] == op.certificate.fingerprint.hex() for e in events if e.kind.startswith("role."))
    # a re-grant restores it
    k.client("op").call("POST", "/admin/roles", {"action": "grant", "fingerprint": fp, "role": "bidder", "org": "b1"})
    assert k.client("b1").call("GET", f"/bids/{r['body']['bid_id']}")["id"] == r["body"]["bid_id"]


def test_replay_refused_after_restart(tmp_path: Path) -> None:
    k = start_kernel(tmp_path)
    t = k.tender()
    b1 = k.identity("b1", "bidder")
    ag = k.ids["agency-a"]
    now = int(k.time.system() * 1000)
    read = sign_headers(b1.key, b1.certificate, "GET", f"/tenders/{t['id']}/bids", t_ms=now)
    body = orjson.dumps({"note": "typo in the contact phone", "affects_bids": False})
    from bidkernel.crypto.sm3 import sm3

    write = sign_headers(ag.key, ag.certificate, "POST", f"/tenders/{t['id']}/amendments", body_sm3=sm3(body).hex(),
                         t_ms=now)  # fmt: skip
    _raise(k.client().raw("GET", f"/tenders/{t['id']}/bids", headers=read, sign=False))
    _raise(k.client().raw("POST", f"/tenders/{t['id']}/amendments", body, headers=write, sign=False))
    k.stop()
    k = start_kernel(tmp_path)  # the same data directory: a restart within the request window
    try:
        for method, path, b, h in (("GET", f"/tenders/{t['id']}/bids", None, read),
                                   ("POST", f"/tenders/{t['id']}/amendments", body, write)):  # fmt: skip
            status, _h, data = k.client().raw(method, path, b, headers=h, sign=False)
            assert (status, orjson.loads(data)["type"]) == (401, "https://bidkernel.dev/problems/replayed-request")
        # a fresh request still works
        assert k.client("b1").call("GET", f"/tenders/{t['id']}/bids") == []
    finally:
        k.stop()


def test_amendment_needs_fifteen_days(kernel: Kernel) -> None:
    k = kernel
    t = k.tender(seconds=600)
    tid = t["id"]
    r1 = k.client("b1").submit(tid, k.seal("b1", tid))
    ac = k.client("agency-a")
    before = len(list(k.platform.log.iter_leaves()))
    err = _expect(k, lambda: ac.call("POST", f"/tenders/{tid}/amendments", {"note": "new drawings"}), 409,
                  "amendment-too-late")  # fmt: skip
    earliest = err.problem["earliest_deadline_ms"]
    assert earliest >= k.platform.now_ms() + 15 * 86_400_000 - 60_000 and err.problem["earliest_deadline"]
    _expect(k, lambda: ac.call("POST", f"/tenders/{tid}/amendments",
                               {"note": "new drawings", "deadline": t["deadline_ms"] + 86_400_000}), 409,
            "amendment-too-late")  # fmt: skip
    _expect(k, lambda: ac.call("POST", f"/tenders/{tid}/amendments",
                               {"note": "earlier", "deadline": t["deadline_ms"] - 1000, "affects_bids": False}), 400,
            "bad-request")  # fmt: skip
    assert len(list(k.platform.log.iter_leaves())) == before  # nothing logged, nothing changed
    assert k.client().call("GET", f"/tenders/{tid}")["deadline_ms"] == t["deadline_ms"]
    # moving the deadline as the problem says is accepted; a change not affecting bids needs no move
    t2 = ac.call("POST", f"/tenders/{tid}/amendments", {"note": "new drawings", "deadline": earliest + 1000})
    assert t2["deadline_ms"] == earliest + 1000 and t2["amendments"][0]["affects_bids"] is True
    t3 = ac.call("POST", f"/tenders/{tid}/amendments", {"note": "phone number typo", "affects_bids": False})
    assert t3["deadline_ms"] == earliest + 1000 and len(t3["amendments"]) == 2
    bid = k.client("b1").call("GET", f"/bids/{r1['body']['bid_id']}")
    assert bid["status"] == "live" and bid["before_amendment"] is True  # flagged, never invalidated


def test_receipt_lost_after_commit_is_issued_once_then_served_as_stored(kernel: Kernel) -> None:
    """The machine stops between the commit and the receipt's storage (simulated: the storage fails): the bid
    stays committed with its blobs; the first GET issues the receipt (same body), later GETs serve those bytes."""
    k = kernel
    t = k.tender()
    intake = k.server.config.app.state.ctx.intake  # type: ignore[attr-defined]
    real = intake._receipts._write
    calls: list[int] = []

    def fail_once(items: Any) -> None:
        if not calls:
            calls.append(1)
            raise OSError("disk gone")
        real(items)

    intake._receipts._write = fail_once
    pkg = k.seal("b1", t["id"])
    with pytest.raises(ApiError) as e:
        k.client("b1").submit(t["id"], pkg)
    assert e.value.status == 500  # the bidder got no receipt ...
    rows = k.client("b1").call("GET", f"/tenders/{t['id']}/bids")
    assert f"GET /bids/{rows[0]['id']}/receipt" in e.value.problem["detail"]  # ... but is told where to get it
    assert len(rows) == 1 and rows[0]["status"] == "live"  # ... but the bid is committed
    for env in pkg.manifest["envelopes"]:
        assert k.platform.blobs.exists(env["sm3"])  # and its blobs were placed, not discarded
    status, h1, first = k.client("b1").raw("GET", f"/bids/{rows[0]['id']}/receipt")
    assert status == 200 and h1["bk-receipt"] == "issued-now"
    doc = orjson.loads(first)
    verify_receipt(doc)
    assert doc["body"]["bid_id"] == rows[0]["id"] and doc["body"]["lot"] == "1"
    status, h2, again = k.client("b1").raw("GET", f"/bids/{rows[0]['id']}/receipt")
    assert h2["bk-receipt"] == "as-issued" and again == first
