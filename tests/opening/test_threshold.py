"""Threshold custody (k of N, Feldman VSS): nothing before the opening time, k-1 shares cannot open, a
tampered share is caught and its custodian named, k shares after the time open the tender — over HTTP,
through the CLI and by direct library calls."""

from __future__ import annotations

import base64
import datetime as dt

import orjson
import pytest
from click.testing import CliRunner
from opening_support import Hall

from bidkernel.cli.main import build_cli
from bidkernel.client import ApiError
from bidkernel.custody import tender_keys, vss
from bidkernel.ledger.events import decode_leaf


def test_threshold_custody(hall: Hall) -> None:
    # short times: the CLI signs with the real clock, which must stay within 300 s of the (moved) kernel clock
    deadline = hall.k.now() + dt.timedelta(seconds=60)
    t = hall.threshold_tender(2, 3, seconds=60, opening=(deadline + dt.timedelta(seconds=60)).isoformat())
    tid = t["id"]
    assert len(t["opening_certificates"]) == 1
    with hall.k.platform.store.reader() as r:
        setup = tender_keys.setup_of(r, tid)
        row = r.tender_get(tid)
    assert row is not None
    published = decode_leaf(hall.k.platform.log.leaf(orjson.loads(row.doc)["publish_index"]))
    # the commitments are in the ledger, and C_0 is the opening certificate's key
    assert published.data["custody_setup"]["commitments"] == setup["commitments"]
    for name, price in (("A", 10), ("B", 20), ("C", 30)):
        hall.submit(name, t, price=price, size=50_000)
    runner = CliRunner()
    cli = build_cli()

    def cli_release(i: int) -> tuple[int, str]:
        key, cert = hall.key_files(f"c{i}", hall.custodian(i))
        r = runner.invoke(cli, ["custody", "release", tid, "--server", hall.k.url, "--key", key, "--cert", cert,
                                "--no-check-local-clock"])  # fmt: skip
        return r.exit_code, r.output

    # before the deadline and after it, before the opening time: every path is refused
    for moment in ("open", "closed"):
        if moment == "closed":
            hall.after_deadline(t)
        with pytest.raises(ApiError) as e:
            hall.custodian_client(0).release_share(tid, hall.share(tid, 0))
        assert e.value.kind == "too-early"
        code, out = cli_release(1)
        assert code != 0 and "too-early" in out
        with pytest.raises(ApiError) as e:
            hall.agency().open_tender(tid)
        assert e.value.kind == "too-early"
    with hall.k.platform.store.reader() as r:
        assert r.opening_entries(tid, tender_keys.SHARES) == []
    assert hall.plaintext_bytes() == 0

    hall.advance_to(t["opening_ms"])
    st = hall.agency().open_tender(tid)
    assert st["state"] == "opening"
    # k-1 = 1 share: cannot open, no plaintext, by HTTP or by a direct library call
    assert hall.custodian_client(0).release_share(tid, hall.share(tid, 0))["released"] == 1
    assert tender_keys.threshold_key(hall.k.platform, tid) is None
    assert hall.service().advance(tid)["state"] == "opening"
    assert hall.plaintext_bytes() == 0
    # a tampered share: refused, logged naming the custodian, nothing stored
    bad = (hall.share(tid, 2) + 1) % vss.N
    with pytest.raises(ApiError) as e:
        hall.custodian_client(2).release_share(tid, bad)
    assert e.value.kind == "bad-share" and "Custodian 2" in e.value.problem["detail"]
    size = hall.k.platform.log.size
    rejected = [decode_leaf(hall.k.platform.log.leaf(i)) for i in range(size)]
    rej = [ev for ev in rejected if ev.kind == "opening.share_rejected"]
    assert len(rej) == 1 and rej[0].data["custodian"] == hall.custodian(2).certificate.fingerprint.hex()
    assert rej[0].data["index"] == 3
    assert hall.service().advance(tid)["state"] == "opening" and hall.plaintext_bytes() == 0
    # a stranger (not a custodian) cannot release
    with pytest.raises(ApiError) as e:
        hall.bidder("A").release_share(tid, hall.share(tid, 1))
    assert e.value.kind == "forbidden"
    # the k-th valid share, through the CLI: the tender opens
    code, out = cli_release(1)
    assert code == 0, out
    st = hall.wait_final(tid)
    assert st["state"] == "opened" and st["failures"] == []
    assert sorted(r["fields"]["price"] for r in st["table"]) == [10, 20, 30]
    rec = st["record"]["record"]["custody"]
    assert [s["index"] for s in rec["share_releases"]] == [1, 2] and rec["k"] == 2
    # a release after the end is refused
    with pytest.raises(ApiError) as e:
        hall.custodian_client(2).release_share(tid, hall.share(tid, 2))
    assert e.value.kind == "opening-state"


def test_custodian_detects_a_tampered_encrypted_share(hall: Hall) -> None:
    """If the published encrypted share is swapped (here: custodian 1's slot holds custodian 2's share, validly
    encrypted to custodian 1), the custodian's tool refuses to release it and says why; nothing is sent."""
    t = hall.threshold_tender(2, 3, seconds=60)
    tid = t["id"]
    hall.after_deadline(t)
    with hall.k.platform.store.reader() as r:
        setup = tender_keys.setup_of(r, tid)
    from bidkernel.crypto import sm2

    other = hall.share(tid, 1)
    msg = tender_keys.SHARE_MAGIC + tid.encode() + b"\x00" + bytes([1]) + other.to_bytes(32, "big")
    setup["custodians"][0]["encrypted_share"] = base64.b64encode(
        sm2.encrypt(hall.custodian(0).certificate.public_key, msg)
    ).decode()
    with hall.k.platform.store.transaction() as tx:
        tx.opening_entry_put(tid, tender_keys.ENTRY, "setup", orjson.dumps(setup))
    key, cert = hall.key_files("c0", hall.custodian(0))
    r = CliRunner().invoke(build_cli(), ["custody", "release", tid, "--server", hall.k.url, "--key", key,
                                         "--cert", cert, "--no-check-local-clock"])  # fmt: skip
    assert r.exit_code != 0 and "not valid" in r.output and "Feldman" in r.output
    with hall.k.platform.store.reader() as rd:
        assert rd.opening_entries(tid, tender_keys.SHARES) == []
