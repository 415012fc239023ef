"""Bad input to the opening gets a stable problem type and leaves nothing behind."""

from __future__ import annotations

import datetime as dt

import pytest
from opening_support import Hall

from bidkernel.client import ApiError
from bidkernel.custody import tender_keys


def _kind(fn: object, *a: object, **kw: object) -> str:
    with pytest.raises(ApiError) as e:
        fn(*a, **kw)  # type: ignore[operator]
    return e.value.kind


def test_bad_tender_rules(hall: Hall) -> None:
    c = hall.agency()
    dl = (hall.k.now() + dt.timedelta(hours=1)).isoformat()
    pem = hall.custodian(0).certificate.to_pem().decode()
    for body in (
        {"custody": "threshold"},
        {"custody": "threshold", "threshold": {"k": 3, "custodians": [{"name": "a", "certificate": pem}] * 2}},
        {"custody": "threshold", "threshold": {"k": 2, "custodians": [{"name": "a", "certificate": pem}] * 2}},
        {"custody": "threshold", "threshold": {"k": 2, "custodians": [{"name": "a", "certificate": "x"}] * 2}},
        {"quorum": 0},
        {"quorum": "3"},
        {"decryption_window_s": 0},
        {"remedy": "backup"},
        {"custody": "bidder"},
        {"attribution": {"digest-mismatch": "nobody"}},
        {"attribution": {"no-such-cause": "bidder"}},
    ):
        assert _kind(c.call, "POST", "/tenders", {"title": "x", "deadline": dl, **body}) == "bad-request", body
    assert all(t["title"] != "x" for t in c.call("GET", "/tenders"))  # nothing was created


def test_bad_opening_requests(hall: Hall) -> None:
    t = hall.threshold_tender(2, 3, seconds=60)
    tid = t["id"]
    b, _pkg = hall.submit("A", t, price=1)
    hall.after_deadline(t)
    ag, cust = hall.agency(), hall.custodian_client(0)
    assert _kind(ag.open_tender, "t-0000000000000000") == "not-found"
    assert _kind(ag.open_tender, "BAD_ID") == "not-found"
    assert _kind(hall.bidder("A").call, "POST", f"/tenders/{tid}/opening") == "forbidden"
    ag.open_tender(tid)
    for body in ({}, {"share": "zz" * 32}, {"share": "00" * 31}, {"share": 5}, [1]):
        assert _kind(cust.call, "POST", f"/tenders/{tid}/custody/releases", body) == "bad-request", body
    status, _h, data = cust.raw("POST", f"/tenders/{tid}/custody/releases", b"{not json")
    assert status == 400 and b"bad-request" in data
    with hall.k.platform.store.reader() as r:
        assert r.opening_entries(tid, tender_keys.SHARES) == []
    # key releases and backups do not apply to threshold custody
    assert _kind(hall.bidder("A").call, "POST", f"/bids/{b}/key", {"keys": {"summary": "AA=="}}) == "opening-state"
    assert _kind(hall.bidder("A").call, "POST", f"/bids/{b}/backup", {"envelopes": {}}) == "opening-state"
    assert _kind(hall.bidder("A").call, "POST", f"/tenders/{tid}/opening/objections", {"bid_id": b}) == "bad-request"
    assert _kind(hall.bidder("A").call, "POST", f"/tenders/{tid}/opening/confirmations", {"bid_id": b}) == (
        "opening-state"
    )
    assert hall.plaintext_bytes() == 0


def test_bad_key_releases(hall: Hall) -> None:
    t = hall.tender("bidder", seconds=60, decryption_window_s=600)
    b, _pkg = hall.submit("A", t, price=1, own=True)
    hall.after_deadline(t)
    hall.agency().open_tender(t["id"])
    a = hall.bidder("A")
    for body in ({}, {"keys": {}}, {"keys": {"nope": "AA=="}}, {"keys": {"summary": "!!"}}, {"keys": "x"}):
        assert _kind(a.call, "POST", f"/bids/{b}/key", body) == "bad-request", body
    assert _kind(a.call, "POST", f"/bids/{b}/key", {"keys": {"summary": "AAAA"}}) == "bad-key-release"
    assert _kind(a.call, "POST", f"/bids/{b}/backup", {"envelopes": {"summary": "AAAA"}}) == "bad-key-release"
    with hall.k.platform.store.reader() as r:
        assert r.opening_entries(t["id"], "bidkey") == [] and r.opening_entries(t["id"], "backup") == []
