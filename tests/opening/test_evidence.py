"""Art. 31 evidence: a corrupted envelope fails alone with the right cause while the rest open; a bidder's
own malformed ciphertext is the bidder's fault (撤销), the platform's corrupted storage is not (撤回)."""

from __future__ import annotations

import base64
import os

import orjson
from opening_support import Hall

from bidkernel.client import Package
from bidkernel.crypto import sm4
from bidkernel.crypto.envelope import envelope_header, sign_digest
from bidkernel.crypto.sm3 import sm3_file
from bidkernel.crypto.x509 import Certificate


def _bad_padding_envelope(hall: Hall, pkg: Package, t: dict[str, object], bidder: str) -> None:
    """Replace the package's doc0 with an envelope whose plaintext ends in 0x00 (invalid PKCS#7), signed
    by the bidder: it passes intake (it is a well-formed envelope to the opening key) but cannot open."""
    i = hall.k.ids[bidder]
    certs = [Certificate.from_pem(p.encode()) for p in t["opening_certificates"]]  # type: ignore[attr-defined]
    key, iv = os.urandom(16), os.urandom(16)
    body = os.urandom(8192 - 1) + b"\x00"
    env = envelope_header(certs, content_key=key, iv=iv, plaintext_size=len(body) - 16)
    env += sm4.cbc_encrypt(key, iv, body, padding=False)
    path = pkg.dir / "doc0.env"
    path.write_bytes(env)
    digest = sm3_file(path)
    m = orjson.loads((pkg.dir / "manifest.json").read_bytes())
    for e in m["envelopes"]:
        if e["name"] == "doc0":
            e.update(sm3=digest.hex(), size=len(env),
                     signature=base64.b64encode(sign_digest(digest, i.key, i.certificate)).decode())  # fmt: skip
    (pkg.dir / "manifest.json").write_bytes(orjson.dumps(m))


def test_failures_are_isolated_caused_and_attributed(hall: Hall) -> None:
    t = hall.tender(opening_certificates=[], quorum=2)
    good = [hall.submit(n, t, price=p, size=30_000, files=2)[0] for n, p in (("A", 1), ("B", 2))]
    # C: the platform's copy of its technical envelope is corrupted after receipt
    c_bid, c_pkg = hall.submit("C", t, price=3, size=30_000, files=2)
    blob = hall.k.platform.blobs.path(c_pkg.manifest["envelopes"][2]["sm3"])
    assert c_pkg.manifest["envelopes"][2]["name"] == "doc1"
    raw = bytearray(blob.read_bytes())
    raw[-100] ^= 0x55
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(raw))
    # D: the bidder's own envelope does not decrypt (bad padding)
    d_pkg = hall.seal("D", t, price=4, size=8192, files=1)
    _bad_padding_envelope(hall, d_pkg, t, "D")
    d_bid = str(hall.bidder("D").submit(t["id"], Package.load(d_pkg.dir))["body"]["bid_id"])

    hall.after_deadline(t)
    hall.agency().open_tender(t["id"])
    st = hall.wait_final(t["id"])
    assert st["state"] == "opened"  # 2 valid bids >= quorum 2
    rows = {r["bid_id"]: r for r in st["table"]}
    assert [rows[b]["status"] for b in good] == ["opened", "opened"]
    assert rows[c_bid]["status"] == rows[d_bid]["status"] == "failed"
    # the summaries of every bid were read out, even of the bids whose documents failed
    assert rows[c_bid]["fields"]["price"] == 3 and rows[d_bid]["fields"]["price"] == 4
    by_bid = {f["bid_id"]: f for f in st["failures"]}
    assert set(by_bid) == {c_bid, d_bid}
    assert by_bid[c_bid]["envelope"] == "doc1"
    assert (by_bid[c_bid]["cause"], by_bid[c_bid]["code"], by_bid[c_bid]["attribution"],
            by_bid[c_bid]["consequence"]) == ("digest-mismatch", "BK-OPEN-201", "not-bidder", "撤回")  # fmt: skip
    assert (by_bid[d_bid]["cause"], by_bid[d_bid]["code"], by_bid[d_bid]["attribution"],
            by_bid[d_bid]["consequence"]) == ("malformed-ciphertext", "BK-OPEN-101", "bidder", "撤销")  # fmt: skip
    assert all(f["time_ms"] >= st["started_ms"] for f in st["failures"])
    # the failed envelopes left no plaintext; the good ones did, intact
    from bidkernel.opening.service import plaintext_dir

    assert not (plaintext_dir(hall.k.platform, t["id"], c_bid) / "doc1").exists()
    assert (plaintext_dir(hall.k.platform, t["id"], c_bid) / "doc0").stat().st_size == 30_000
    assert not (plaintext_dir(hall.k.platform, t["id"], d_bid) / "doc0").exists()
    # the record carries the failures; the outbox names each failed bid once
    assert st["record"]["record"]["failures"] == st["failures"]
    with hall.k.platform.store.reader() as r:
        failed = [orjson.loads(x.payload) for x in r.outbox_list(limit=10_000) if x.kind == "opening.bid_failed"]
    assert sorted(f["bid_id"] for f in failed) == sorted([c_bid, d_bid])
    assert {f["cause"] for f in failed} == {"digest-mismatch", "malformed-ciphertext"}
