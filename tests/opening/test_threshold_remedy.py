"""Bidder custody with threshold custody as the remedy (a combination fixed in the tender documents):
each envelope is sealed to the bidder's own key AND to the tender's k-of-n threshold opening key; bidders
release their keys in the window (CLI and HTTP); after the window the custodians' k shares open the bids of
bidders who did not (or whose key failed the check) — never before the opening time, never with k-1 shares,
never for a bidder whose window is still open — and the record shows per bid which path opened it and the
attribution the remedy policy derives (Art. 31: the missed window stays on record; the bid is opened)."""

from __future__ import annotations

import datetime as dt
import os

import orjson
import pytest
from click.testing import CliRunner
from opening_support import Hall

from bidkernel.authn import Principal
from bidkernel.cli.main import build_cli
from bidkernel.client import ApiError, Package
from bidkernel.crypto.envelope import read_header_from_file, unwrap_content_key
from bidkernel.crypto.x509 import Certificate
from bidkernel.custody import tender_keys
from bidkernel.ledger.events import decode_leaf
from bidkernel.opening import OpeningService
from bidkernel.opening.releases import Releases
from bidkernel.opening.service import plaintext_dir
from bidkernel.problems import KernelError


def test_bidder_key_with_threshold_remedy(hall: Hall) -> None:
    cs = [{"name": f"Custodian {i}", "certificate": hall.custodian(i).certificate.to_pem().decode()} for i in range(3)]
    deadline = hall.k.now() + dt.timedelta(seconds=60)
    t = hall.tender("bidder", seconds=60, decryption_window_s=120, remedy="threshold",
                    threshold={"k": 2, "custodians": cs}, opening_certificates=[],
                    opening=(deadline + dt.timedelta(seconds=30)).isoformat())  # fmt: skip
    tid = t["id"]
    assert t["custody"] == "bidder" and t["remedy"] == "threshold" and "remedy_certificate" not in t
    [opening_pem] = t["opening_certificates"]
    threshold_cert = Certificate.from_pem(opening_pem.encode())
    # fixed at publication, in the ledger: the model, the remedy and the threshold commitments
    with hall.k.platform.store.reader() as r:
        row = r.tender_get(tid)
        setup = tender_keys.setup_of(r, tid)
    assert row is not None
    published = decode_leaf(hall.k.platform.log.leaf(orjson.loads(row.doc)["publish_index"]))
    cs_pub = published.data["custody_setup"]
    assert (cs_pub["model"], cs_pub["remedy"], cs_pub["k"], cs_pub["n"]) == ("bidder", "threshold", 2, 3)
    assert cs_pub["commitments"] == setup["commitments"] and cs_pub["certificate"] == threshold_cert.fingerprint.hex()

    # A seals with the CLI from the tender's public JSON: two recipients, its own key and the threshold key
    hall.bidder("A")
    a_key, a_cert = hall.key_files("A")
    tender_json = hall.tmp / "tender.json"
    tender_json.write_bytes(orjson.dumps(hall.agency().call("GET", f"/tenders/{tid}")))
    (hall.tmp / "a-summary.json").write_text('{"bidder": "A", "price": 11}')
    (hall.tmp / "a-doc.bin").write_bytes(os.urandom(30_000))
    a_pkg = hall.tmp / "a-pkg"
    r = CliRunner().invoke(build_cli(), ["bid", "seal", "--tender", str(tender_json), "--summary",
                                         str(hall.tmp / "a-summary.json"), "--file", f"doc0={hall.tmp / 'a-doc.bin'}",
                                         "--key", a_key, "--cert", a_cert, "--out", str(a_pkg)])  # fmt: skip
    assert r.exit_code == 0, r.output
    for name in ("summary", "doc0"):
        hdr = read_header_from_file(a_pkg / f"{name}.env")
        assert len(hdr.recipients) == 2
        hdr.slot_for(threshold_cert)
        hdr.slot_for(hall.k.ids["A"].certificate)
    pkgs = {"A": Package.load(a_pkg)}
    bid = {"A": str(hall.bidder("A").submit(tid, pkgs["A"])["body"]["bid_id"])}
    for n, p in (("B", 22), ("C", 33), ("D", 44)):
        bid[n], pkgs[n] = hall.submit(n, t, price=p, size=20_000, own=True)

    def keys(n: str) -> dict[str, bytes]:
        i = hall.k.ids[n]
        return {e["name"]: unwrap_content_key(read_header_from_file(pkgs[n].dir / f"{e['name']}.env"), i.key,
                                              i.certificate) for e in pkgs[n].manifest["envelopes"]}  # fmt: skip

    # before the opening time: no share is taken (HTTP, CLI, library), nothing opens
    hall.after_deadline(t)
    c0 = hall.custodian_client(0)
    with pytest.raises(ApiError) as e:
        c0.release_share(tid, hall.share(tid, 0))
    assert (e.value.status, e.value.kind) == (409, "too-early")
    k1, c1 = hall.key_files("custodian-1", hall.custodian(1))
    r = CliRunner().invoke(build_cli(), ["custody", "release", tid, "--server", hall.k.url, "--key", k1,
                                         "--cert", c1, "--no-check-local-clock"])  # fmt: skip
    assert r.exit_code != 0 and "too-early" in r.output
    svc = OpeningService(hall.k.platform)
    with pytest.raises(KernelError, match="too-early"):
        Releases(svc).release_share(_principal(hall, 0), tid, {"share": f"{hall.share(tid, 0):064x}"})
    assert tender_keys.threshold_key(hall.k.platform, tid) is None
    with pytest.raises(ApiError) as e:
        hall.agency().open_tender(tid)
    assert e.value.kind == "too-early"
    assert hall.plaintext_bytes() == 0

    # the window: A releases with the CLI, B over HTTP; C's key is wrong (refused, logged); D does nothing
    hall.advance_to(t["opening_ms"])
    st = hall.agency().open_tender(tid)
    assert st["state"] == "opening"
    r = CliRunner().invoke(build_cli(), ["bid", "decrypt", bid["A"], str(a_pkg), "--server", hall.k.url,
                                         "--key", a_key, "--cert", a_cert])  # fmt: skip
    assert r.exit_code == 0, r.output
    hall.bidder("B").release_bid_keys(bid["B"], keys("B"))
    with pytest.raises(ApiError) as e:
        hall.bidder("C").release_bid_keys(bid["C"], {"summary": os.urandom(16)})
    assert e.value.kind == "bad-key-release"
    # one custodian releases during the window (k-1 = 1 share): nothing of C or D opens, even after the window
    c0.release_share(tid, hall.share(tid, 0))
    st = svc.advance(tid)
    rows = {x["bid_id"]: x for x in st["table"]}
    assert rows[bid["A"]]["status"] == rows[bid["B"]]["status"] == "opened"
    assert rows[bid["A"]]["opened_via"] == ["bidder-key"]
    assert rows[bid["C"]]["status"] == rows[bid["D"]]["status"] == "pending"
    hall.advance_to(st["window_end_ms"])
    st = svc.advance(tid)
    assert st["state"] == "opening"
    assert st["awaiting_remedy"] == sorted(f"{bid[n]}/{x}" for n in "CD" for x in ("doc0", "summary"))
    assert not plaintext_dir(hall.k.platform, tid, bid["C"]).exists()
    assert not plaintext_dir(hall.k.platform, tid, bid["D"]).exists()
    assert {x["bid_id"]: x["summary"] for x in st["table"]}[bid["D"]] is None
    with pytest.raises(ApiError) as e:  # the window is closed for the bidder: the remedy is the way now
        hall.bidder("D").release_bid_keys(bid["D"], keys("D"))
    assert e.value.kind == "window-closed"

    # the second share (CLI): k shares rebuild the key, the remedy opens C and D; `open` prints the paths
    r = CliRunner().invoke(build_cli(), ["custody", "release", tid, "--server", hall.k.url, "--key", k1,
                                         "--cert", c1, "--no-check-local-clock"])  # fmt: skip
    assert r.exit_code == 0, r.output
    st = hall.wait_final(tid)
    assert st["state"] == "opened" and st["failures"] == []
    rows = {x["bid_id"]: x for x in st["table"]}
    assert {n: rows[bid[n]]["opened_via"] for n in "ABCD"} == {
        "A": ["bidder-key"], "B": ["bidder-key"], "C": ["threshold-remedy"], "D": ["threshold-remedy"]
    }  # fmt: skip
    assert orjson.loads(rows[bid["D"]]["summary"])["price"] == 44
    rec = st["record"]["record"]
    assert rec["opened"] == [bid[n] for n in "ABCD"] and rec["failed"] == []
    custody = rec["custody"]
    assert custody["model"] == "bidder" and custody["remedy"] == "threshold"
    assert [x["index"] for x in custody["share_releases"]] == [1, 2]
    rem = {(m["bid_id"], m["envelope"]): m for m in custody["remedies"]}
    assert set(rem) == {(bid[n], x) for n in "CD" for x in ("summary", "doc0")}
    d = rem[(bid["D"], "summary")]
    assert (d["path"], d["reason"], d["code"], d["attribution"], d["consequence"], d["without_remedy"]) == (
        "threshold-remedy", "not-decrypted-in-window", "BK-OPEN-104", "bidder", "opened-by-remedy", "撤销"
    )  # fmt: skip
    assert d["due_ms"] >= d["window_end_ms"] == st["window_end_ms"] and d["opened_ms"] >= d["due_ms"]
    c = rem[(bid["C"], "summary")]
    assert (c["reason"], c["attribution"]) == ("wrong-key", "bidder") and "key-check-value" in c["detail"]
    assert rem[(bid["C"], "doc0")]["reason"] == "not-decrypted-in-window"
    assert [x["envelope"] for x in custody["key_refusals"]] == ["summary"]
    plain = hall.k.client("agency-a").raw("GET", f"/bids/{bid['C']}/plaintext/doc0")[2]
    assert plain == (pkgs["C"].dir.parent / "f0.bin").read_bytes()
    ag_key, ag_cert = hall.key_files("agency-a")
    r = CliRunner().invoke(build_cli(), ["open", tid, "--server", hall.k.url, "--key", ag_key,
                                         "--cert", ag_cert])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "threshold-remedy" in r.output and f"REMEDIED {bid['D']}/summary: not-decrypted-in-window" in r.output


def _principal(hall: Hall, i: int) -> Principal:
    c = hall.custodian(i).certificate
    return Principal("supervisor", f"custodian-{i}", c.fingerprint.hex(), "CN=c", f"n-{os.urandom(4).hex()}")


def test_threshold_remedy_rules_at_creation(hall: Hall) -> None:
    c = hall.agency()
    dl = (hall.k.now() + dt.timedelta(seconds=600)).isoformat()
    base = {"title": "x", "deadline": dl}
    pem = hall.k.opening_cert().certificate.to_pem().decode()
    for req, why in (
        ({**base, "custody": "platform", "remedy": "threshold"}, "remedy"),
        ({**base, "custody": "bidder", "remedy": "threshold"}, "threshold"),
        ({**base, "custody": "bidder", "remedy": "quorum-vote", "opening_certificates": [pem]}, "remedy"),
        ({**base, "custody": "bidder", "remedy": "none"}, "opening certificates"),
    ):
        with pytest.raises(ApiError) as e:
            c.call("POST", "/tenders", req)
        assert e.value.kind == "bad-request" and why in str(e.value)


def test_the_remedy_waits_for_the_end_of_the_bidders_window(hall: Hall) -> None:
    """k shares in while the window is open: a bidder who has not decrypted yet still may; the custodians'
    key opens its bid only once its window has closed."""
    cs = [{"name": f"Custodian {i}", "certificate": hall.custodian(i).certificate.to_pem().decode()} for i in range(2)]
    t = hall.tender("bidder", seconds=60, decryption_window_s=600, remedy="threshold", quorum=1,
                    threshold={"k": 2, "custodians": cs}, opening_certificates=[])  # fmt: skip
    a, _ = hall.submit("A", t, price=1, own=True)
    b, _ = hall.submit("B", t, price=2, own=True)
    hall.after_deadline(t)
    hall.agency().open_tender(t["id"])
    for i in range(2):
        hall.custodian_client(i).release_share(t["id"], hall.share(t["id"], i))
    svc = OpeningService(hall.k.platform)
    st = svc.advance(t["id"])
    assert st["state"] == "opening" and not st.get("awaiting_remedy")
    assert {x["bid_id"]: x["status"] for x in st["table"]} == {a: "pending", b: "pending"}
    assert hall.plaintext_bytes() == 0
    hall.advance_to(st["window_end_ms"])
    st = svc.advance(t["id"])
    assert st["state"] == "opened"
    assert {x["bid_id"]: x["opened_via"] for x in st["table"]} == {a: ["threshold-remedy"], b: ["threshold-remedy"]}
