"""End to end over a real server on loopback: tender, bids, replacements, withdrawals, the deadline by
trusted time (-1 s accepted, +1 s refused), the closing record, receipts verified offline, and the live
bids equal to what the ledger says."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from intake_support import Kernel

from bidkernel.client import ApiError
from bidkernel.crypto.sm3 import sm3_file
from bidkernel.ledger.checkpoint import SM2NoteVerifier, open_checkpoint
from bidkernel.ledger.events import decode_leaf
from bidkernel.receipt import verify_receipt
from bidkernel.timestamp.verify import Trust, verify_token


def _live_from_ledger(k: Kernel, tender_id: str) -> set[str]:
    live: set[str] = set()
    for _i, leaf in k.platform.log.iter_leaves():
        e = decode_leaf(leaf)
        if e.data.get("tender_id") != tender_id:
            continue
        if e.kind in ("bid.received", "bid.replaced"):
            live.discard(e.data.get("replaces"))
            live.add(e.data["bid_id"])
        elif e.kind == "bid.withdrawn":
            live.discard(e.data["bid_id"])
    return live


def test_tender_lifecycle_end_to_end(kernel: Kernel) -> None:
    k = kernel
    root = k.platform.pki.ca.root.certificate
    t = k.tender(seconds=120)
    tid = t["id"]
    assert t["state"] == "open"
    receipts: dict[str, list[dict[str, Any]]] = {}
    bidders = [f"bidder-{i}" for i in range(6)]
    for b in bidders:
        receipts[b] = [k.client(b).submit(tid, k.seal(b, tid, size=20_000))]
    # two replace (the latest complete submission counts), one withdraws
    for b in bidders[:2]:
        r = k.client(b).submit(tid, k.seal(b, tid, tag="2"))
        assert r["body"]["replaces"] == receipts[b][-1]["body"]["bid_id"]
        assert r["body"]["kind"] == "bid.replaced"
        receipts[b].append(r)
    w = k.client(bidders[2]).call("POST", f"/bids/{receipts[bidders[2]][0]['body']['bid_id']}/withdraw")
    assert w["body"]["kind"] == "bid.withdrawn"
    # withdrawing twice is refused; the withdrawn bid stays in the history
    with pytest.raises(ApiError) as e:
        k.client(bidders[2]).call("POST", f"/bids/{receipts[bidders[2]][0]['body']['bid_id']}/withdraw")
    assert e.value.kind == "bid-not-live"
    all_receipts = [r for rs in receipts.values() for r in rs] + [w]
    for r in all_receipts:
        s = verify_receipt(r, roots=[root])
        assert s.tender_id == tid
    # every accepted envelope is on disk under its SM3
    for r in all_receipts:
        for env in r["body"]["envelopes"]:
            assert sm3_file(k.platform.blobs.path(env["sm3"])).hex() == env["sm3"]

    # bids at deadline - 1 s and + 1 s, decided by the trusted clock only
    deadline_s = t["deadline_ms"] / 1000
    late_pkg = k.seal("late-bidder", tid)
    early_pkg = k.seal("last-minute", tid)
    k.time.offset += deadline_s - 1.0 - k.platform.clock.read().timestamp
    r = k.client("last-minute").submit(tid, early_pkg)
    assert r["body"]["received_ms"] < t["deadline_ms"]
    all_receipts.append(r)
    k.time.offset += 2.0
    with pytest.raises(ApiError) as e:
        k.client("late-bidder").submit(tid, late_pkg)
    assert e.value.status == 409 and e.value.kind == "deadline-passed"
    with pytest.raises(ApiError) as e:
        k.client(bidders[3]).call("POST", f"/bids/{receipts[bidders[3]][0]['body']['bid_id']}/withdraw")
    assert e.value.kind == "deadline-passed"

    # the closing record: a deadline.sealed leaf, a signed checkpoint covering it, a TSA token over it
    closing = None
    for _ in range(100):
        try:
            closing = k.client().call("GET", f"/tenders/{tid}/closing")
            break
        except ApiError:
            import time

            time.sleep(0.05)
    assert closing is not None
    verifier = SM2NoteVerifier(k.platform.log.origin, k.platform.pki.platform.certificate.public_key)
    cp = open_checkpoint(closing["checkpoint"], [verifier], origin=k.platform.log.origin)
    assert cp.size > closing["log_index"]
    from cryptography import x509 as cx509

    anchors = [cx509.load_der_x509_certificate(root.der)]
    verify_token(base64.b64decode(closing["timestamp_token"]), closing["checkpoint"].encode(), Trust(anchors))
    sealed = decode_leaf(k.platform.log.leaf(closing["log_index"]))
    assert sealed.kind == "deadline.sealed" and sealed.time_ms >= t["deadline_ms"]

    # live bids: what the API says == what the ledger says == the closing record
    expected_live = {rs[-1]["body"]["bid_id"] for b, rs in receipts.items() if b != bidders[2]}
    expected_live.add(r["body"]["bid_id"])
    k.identity("supervisor", "supervisor")
    rows = k.client("supervisor").call("GET", f"/tenders/{tid}/bids")
    api_live = {x["id"] for x in rows if x["status"] == "live"}
    assert api_live == expected_live == _live_from_ledger(k, tid) == set(closing["live_bids"])
    assert closing["count"] == len(expected_live) == 6

    # receipts still verify after the close, and the public sees the count only now
    for rc in all_receipts:
        verify_receipt(rc)
    view = k.client().call("GET", f"/tenders/{tid}")
    assert view["state"] == "closed"


def test_amendment_moves_deadline_and_flags_earlier_bids(kernel: Kernel) -> None:
    k = kernel
    t = k.tender(seconds=60)
    tid = t["id"]
    r1 = k.client("b1").submit(tid, k.seal("b1", tid))
    new_deadline = t["deadline_ms"] + 16 * 86_400_000  # 更正 affecting bids: >= 15 days before the deadline
    t2 = k.client("agency-a").call(
        "POST", f"/tenders/{tid}/amendments", {"note": "更正: new drawings", "deadline": new_deadline}
    )
    assert t2["deadline_ms"] == new_deadline and len(t2["amendments"]) == 1
    bid = k.client("b1").call("GET", f"/bids/{r1['body']['bid_id']}")
    assert bid["before_amendment"] is True and bid["status"] == "live"  # kept, flagged, not invalidated
    # past the old deadline the tender is still open
    k.time.offset += 120
    r2 = k.client("b1").submit(tid, k.seal("b1", tid, tag="3"))
    bid2 = k.client("b1").call("GET", f"/bids/{r2['body']['bid_id']}")
    assert bid2["before_amendment"] is False
    kinds = [decode_leaf(leaf).kind for _i, leaf in k.platform.log.iter_leaves()]
    assert "tender.amended" in kinds


def test_supplement_carries_envelopes_without_resending(kernel: Kernel, tmp_path: Any) -> None:
    import orjson

    from bidkernel.client import Package, seal_package

    k = kernel
    t = k.tender()
    tid = t["id"]
    first = k.seal("b1", tid)
    r1 = k.client("b1").submit(tid, first)
    # a supplement: the same 唱标 summary and technical envelopes (carried, not re-sent) plus a qualification file
    b1 = k.ids["b1"]
    (tmp_path / "s.json").write_text("{}")
    (tmp_path / "q.pdf").write_bytes(b"qualification" * 100)
    seal_package(tmp_path / "extra", tender_id=tid, lot="1", opening_certificates=[k.opening_cert().certificate],
                 summary=tmp_path / "s.json", files=[("qualification", tmp_path / "q.pdf")], key=b1.key,
                 cert=b1.certificate)  # fmt: skip
    extra = orjson.loads((tmp_path / "extra" / "manifest.json").read_bytes())
    carried = [{**e, "carry": True} for e in first.manifest["envelopes"]]
    qual = next(e for e in extra["envelopes"] if e["name"] == "qualification")
    manifest = {**first.manifest, "envelopes": [*carried, qual]}
    (tmp_path / "extra" / "manifest.json").write_bytes(orjson.dumps(manifest))
    pkg = Package.load(tmp_path / "extra")
    assert pkg.length() < first.length()  # the carried envelopes are not sent again
    r2 = k.client("b1").submit(tid, pkg)
    assert r2["body"]["replaces"] == r1["body"]["bid_id"]
    assert [e["name"] for e in r2["body"]["envelopes"]] == ["summary", "technical", "qualification"]
    verify_receipt(r2)
    # carrying an envelope that is not in the current bid is refused
    bogus = {**manifest, "envelopes": [{**carried[0], "sm3": "ab" * 32}, qual]}
    (tmp_path / "extra" / "manifest.json").write_bytes(orjson.dumps(bogus))
    with pytest.raises(ApiError) as e:
        k.client("b1").submit(tid, Package.load(tmp_path / "extra"))
    assert e.value.kind in ("malformed-package", "bad-signature")
