"""Bidder custody with the backup remedy: bidders release their own keys in the window (HTTP and CLI),
a wrong key is refused, a backup opens a bid whose holder could not decrypt, and a bidder who lets the
window pass gets 撤销 evidence."""

from __future__ import annotations

import base64
import os

import orjson
import pytest
from click.testing import CliRunner
from opening_support import Hall

from bidkernel.cli.main import build_cli
from bidkernel.client import ApiError
from bidkernel.crypto.envelope import read_header_from_file


def _files(hall: Hall, name: str) -> tuple[str, str]:
    i = hall.k.ids[name]
    key, cert = hall.tmp / f"{name}.key", hall.tmp / f"{name}.pem"
    key.write_bytes(i.key.to_pkcs8(True))
    cert.write_bytes(i.certificate.to_pem())
    return str(key), str(cert)


def test_bidder_custody_window_backup_and_evidence(hall: Hall) -> None:
    # short times: the CLI signs with the real clock, which must stay within 300 s of the kernel's
    t = hall.tender("bidder", seconds=60, decryption_window_s=120)
    assert t["remedy"] == "backup" and t["remedy_certificate"]
    sub = {n: hall.submit(n, t, price=p, size=20_000, own=True) for n, p in (("A", 1), ("B", 2), ("C", 3), ("D", 4))}
    bid = {n: b for n, (b, _pkg) in sub.items()}

    def keys(n: str) -> dict[str, bytes]:
        return hall.content_keys(n, sub[n][1])

    # before the opening time, a key release is refused and nothing is kept
    with pytest.raises(ApiError) as e:
        hall.bidder("A").release_bid_keys(bid["A"], keys("A"))
    assert e.value.kind == "too-early"
    hall.after_deadline(t)
    st = hall.agency().open_tender(t["id"])
    assert st["state"] == "opening" and st["window_end_ms"] == t["opening_ms"] + 120_000
    # A releases through the CLI; D over HTTP
    key, cert = _files(hall, "A")
    r = CliRunner().invoke(build_cli(), ["bid", "decrypt", bid["A"], str(sub["A"][1].dir), "--server", hall.k.url,
                                         "--key", key, "--cert", cert])  # fmt: skip
    assert r.exit_code == 0, r.output
    hall.bidder("D").release_bid_keys(bid["D"], keys("D"))
    # C's key is wrong (lost UKey, wrong tool): refused, nothing kept
    with pytest.raises(ApiError) as e:
        hall.bidder("C").release_bid_keys(bid["C"], {"summary": os.urandom(16), "doc0": os.urandom(16)})
    assert e.value.kind == "bad-key-release"
    # nobody releases another bidder's keys
    with pytest.raises(ApiError) as e:
        hall.bidder("D").release_bid_keys(bid["A"], keys("D"))
    assert e.value.kind == "not-found"
    # the remedy: C uploads the backup produced with its sealed bid (CLI)
    key, cert = _files(hall, "C")
    r = CliRunner().invoke(build_cli(), ["bid", "backup", bid["C"], str(sub["C"][1].dir), "--server", hall.k.url,
                                         "--key", key, "--cert", cert])  # fmt: skip
    assert r.exit_code == 0, r.output
    # a forged backup (another ciphertext) is refused
    forged = {"doc0": base64.b64encode((sub["A"][1].dir / "doc0.backup").read_bytes()).decode()}
    with pytest.raises(ApiError) as e:
        hall.bidder("B").call("POST", f"/bids/{bid['B']}/backup", {"envelopes": forged})
    assert e.value.kind == "bad-key-release"
    st = hall.service().advance(t["id"])
    assert st["state"] == "opening"  # B has not released: the window is still open
    rows = {r["bid_id"]: r for r in st["table"]}
    assert rows[bid["A"]]["status"] == rows[bid["C"]]["status"] == rows[bid["D"]]["status"] == "opened"
    assert rows[bid["B"]]["status"] == "pending"
    # confirmations and objections on the table, recorded in the ledger
    hall.bidder("A").call("POST", f"/tenders/{t['id']}/opening/confirmations", {"bid_id": bid["A"]})
    hall.bidder("D").call("POST", f"/tenders/{t['id']}/opening/objections", {"bid_id": bid["C"], "text": "价格有误"})
    with pytest.raises(ApiError) as e:
        hall.bidder("D").call("POST", f"/tenders/{t['id']}/opening/confirmations", {"bid_id": bid["A"]})
    assert e.value.kind == "forbidden"

    # the window passes: B gets 撤销 evidence
    hall.advance_to(st["window_end_ms"])
    with pytest.raises(ApiError) as e:
        hall.bidder("B").release_bid_keys(bid["B"], keys("B"))
    assert e.value.kind == "window-closed"
    st = hall.wait_final(t["id"])
    assert st["state"] == "opened"
    fails = [f for f in st["failures"] if f["bid_id"] == bid["B"]]
    assert {f["envelope"] for f in fails} == {"summary", "doc0"}
    assert {(f["cause"], f["code"], f["attribution"], f["consequence"]) for f in fails} == {
        ("not-decrypted-in-window", "BK-OPEN-104", "bidder", "撤销")
    }
    assert all(f["time_ms"] >= st["window_end_ms"] for f in fails)
    rows = {r["bid_id"]: r for r in st["table"]}
    assert rows[bid["A"]]["confirmed"] and not rows[bid["D"]]["confirmed"]
    assert [o["text"] for o in rows[bid["C"]]["objections"]] == ["价格有误"]
    custody = st["record"]["record"]["custody"]
    assert custody["backups"] == [f"{bid['C']}/doc0", f"{bid['C']}/summary"]
    assert f"{bid['A']}/doc0" in custody["bidder_key_releases"]
    # A released through the CLI (with proofs), D through the library call without them: its package's signed
    # key check value decides (packages with neither: "padding", see test_key_check)
    assert custody["bidder_key_checks"][f"{bid['A']}/doc0"] == "sm2-point"
    assert custody["bidder_key_checks"][f"{bid['D']}/doc0"] == "key-check-value"
    assert orjson.loads(hall.k.client("agency-a").raw("GET", f"/bids/{bid['C']}/plaintext/summary")[2])["price"] == 3


def test_revoked_bidder_certificate_is_the_cause(hall: Hall) -> None:
    t = hall.tender("bidder", seconds=60, decryption_window_s=30, quorum=1)
    a, _ = hall.submit("A", t, price=1, own=True)
    b, _ = hall.submit("B", t, price=2, own=True)
    hall.after_deadline(t)
    hall.agency().open_tender(t["id"])
    hall.k.platform.revoke(hall.k.ids["B"].certificate.fingerprint.hex(), "key compromise")
    hall.advance_to(t["opening_ms"] + 30_000)
    st = hall.wait_final(t["id"])
    causes = {f["bid_id"]: f["cause"] for f in st["failures"]}
    assert causes == {a: "not-decrypted-in-window", b: "bidder-certificate-revoked"}
    assert st["state"] == "failed"  # no bid opened: below the quorum of 1


def test_a_key_release_with_its_sm2_proof_is_checked_soundly(hall: Hall) -> None:
    """The padding check passes a wrong key about once in 256; with the proof (the SM2 shared point of the
    wrapped key) a wrong key is refused even when its padding happens to be valid."""
    from bidkernel.crypto.envelope import unwrap_content_key_with_proof
    from bidkernel.opening.keycheck import padding_fits as _key_fits

    t = hall.tender("bidder", seconds=60, decryption_window_s=120)
    bid, pkg = hall.submit("A", t, price=1, size=5_000, own=True, kcv=False)  # the proof alone decides
    i = hall.k.ids["A"]
    proven = {e["name"]: unwrap_content_key_with_proof(read_header_from_file(pkg.dir / f"{e['name']}.env"), i.key,
                                                        i.certificate) for e in pkg.manifest["envelopes"]}  # fmt: skip
    keys = {n: kp[0] for n, kp in proven.items()}
    proofs = {n: kp[1] for n, kp in proven.items()}
    # a wrong key whose last block decrypts to valid padding: the weak check alone would take it
    env = pkg.dir / "doc0.env"
    wrong = next(k for k in iter(lambda: os.urandom(16), None) if k != keys["doc0"] and _key_fits(env, k))
    hall.after_deadline(t)
    hall.agency().open_tender(t["id"])
    bidder = hall.bidder("A")
    for bad_keys, bad_proofs in (
        ({**keys, "doc0": wrong}, proofs),  # the wrong key with the real proof
        (keys, {**proofs, "doc0": bytes(64)}),  # the right key with a made-up proof
        (keys, {**proofs, "doc0": proofs["summary"]}),  # another envelope's proof
    ):
        with pytest.raises(ApiError) as e:
            bidder.release_bid_keys(bid, bad_keys, bad_proofs)
        assert e.value.kind == "bad-key-release" and "proof" in str(e.value)
    with hall.k.platform.store.reader() as r:  # nothing kept from the refused releases
        assert r.opening_entry_get(t["id"], "bidkey", f"{bid}/summary") is None
    out = bidder.release_bid_keys(bid, keys, proofs)
    assert out["checks"] == {"doc0": "sm2-point", "summary": "sm2-point"}
    st = hall.service().advance(t["id"])
    row = next(r for r in st["table"] if r["bid_id"] == bid)
    assert row["status"] == "opened"
