"""Platform custody end to end over HTTP: too early is refused with no plaintext, then 唱标 and bulk
decryption, the signed record in the ledger, the outbox events, entitled plaintext reads."""

from __future__ import annotations

import base64

import orjson
import pytest
from cryptography import x509 as cx509
from opening_support import Hall

from bidkernel.client import ApiError
from bidkernel.crypto import sm2
from bidkernel.crypto.sm3 import sm3
from bidkernel.ledger.events import canonical_json, decode_leaf
from bidkernel.opening import read_plaintext
from bidkernel.problems import KernelError
from bidkernel.timestamp.verify import Trust, verify_token


def test_platform_custody_opens_after_the_time_only(hall: Hall) -> None:
    t = hall.tender(opening_certificates=[])
    assert len(t["opening_certificates"]) == 1  # the kernel's own, generated at publication
    bids = {name: hall.submit(name, t, price=p, files=2)[0] for name, p in (("A", 300), ("B", 100), ("C", 200))}
    agency = hall.agency()
    # before the deadline and before the opening time: too early, nothing decrypted
    with pytest.raises(ApiError) as e:
        agency.open_tender(t["id"])
    assert e.value.status == 409 and e.value.kind == "too-early"
    with pytest.raises(KernelError, match="too-early"):
        read_plaintext(hall.k.platform, t["id"], bids["A"], "summary")
    assert hall.plaintext_bytes() == 0
    assert agency.opening_status(t["id"])["state"] == "waiting"

    hall.after_deadline(t)
    st = agency.open_tender(t["id"])
    assert st["state"] in ("opening", "opened")
    st = hall.wait_final(t["id"])
    assert st["state"] == "opened" and st["failures"] == []
    assert st["summary_ms"] is not None and st["finished_ms"] >= st["summary_ms"] >= st["started_ms"]
    prices = {row["fields"]["bidder"]: row["fields"]["price"] for row in st["table"]}
    assert prices == {"A": 300, "B": 100, "C": 200}
    assert {row["bid_id"] for row in st["table"]} == set(bids.values())

    # the record: signed by the platform, timestamped, in the ledger as opening.record
    rec = st["record"]
    msg = canonical_json(rec["record"])
    assert sm3(msg).hex() == rec["record_sm3"]
    pk = hall.k.platform.pki.platform.certificate.public_key
    assert sm2.verify(pk, msg, base64.b64decode(rec["signature"]))
    root = cx509.load_der_x509_certificate(hall.k.platform.pki.ca.root.certificate.der)
    verify_token(base64.b64decode(rec["timestamp_token"]), msg, Trust([root]))
    leaf = decode_leaf(hall.k.platform.log.leaf(st["record_index"]))
    assert leaf.kind == "opening.record" and leaf.data["record_sm3"] == rec["record_sm3"]
    assert sorted(leaf.data["record"]["opened"]) == sorted(bids.values())

    # outbox events in the same transaction (delivered or not: the background deliverer may be done already)
    with hall.k.platform.store.reader() as r:
        kinds = [(x.kind, x.key) for x in r.outbox_list(limit=10_000)]
    assert ("opening.opened", f"opening.opened/{t['id']}") in kinds

    # plaintext: the library reader and the entitled HTTP reader; a stranger gets nothing
    assert orjson.loads(read_plaintext(hall.k.platform, t["id"], bids["B"], "summary"))["price"] == 100
    assert len(agency.raw("GET", f"/bids/{bids['B']}/plaintext/doc0")[2]) == 4096
    status, _h, _b = hall.bidder("A").raw("GET", f"/bids/{bids['B']}/plaintext/doc0")
    assert status == 404
    # idempotent: starting again returns the same finished record
    again = agency.open_tender(t["id"])
    assert again["record_index"] == st["record_index"] and again["state"] == "opened"
    # the public sees the finished opening
    assert hall.k.client().opening_status(t["id"])["state"] == "opened"


def test_quorum_fails_the_procedure(hall: Hall) -> None:
    t = hall.tender(opening_certificates=[])
    hall.submit("A", t, price=1)
    hall.submit("B", t, price=2)
    hall.after_deadline(t)
    hall.agency().open_tender(t["id"])
    st = hall.wait_final(t["id"])
    assert st["state"] == "failed" and len(st["record"]["record"]["opened"]) == 2
    with pytest.raises(KernelError, match="too-early"):
        read_plaintext(hall.k.platform, t["id"], st["table"][0]["bid_id"], "summary")
