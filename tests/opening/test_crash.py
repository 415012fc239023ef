"""SIGKILL mid-opening, then resume: the real `bidkernel serve` in a subprocess is killed while the bulk
decryption runs (batches of 2 envelopes with a pause, so the kill lands in the middle); after a restart the
opening resumes by itself, finishes with one record listing every bid once, and no envelope decrypted
before the kill is decrypted again (its plaintext file is the same inode, untouched)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from intake_support import free_port

from bidkernel.client import ApiError, KernelClient, Package, seal_package
from bidkernel.crypto.x509 import Certificate
from bidkernel.ledger.events import decode_leaf
from bidkernel.platform import Pki
from bidkernel.store.sqlite import SQLiteStore

BIDS = 24


def _start(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BIDKERNEL_OPENING_BATCH": "2", "BIDKERNEL_OPENING_PAUSE_MS": "150"}
    cmd = [sys.executable, "-c", "from bidkernel.cli.main import main; main()", "serve", "--data", str(data),
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            KernelClient(f"http://127.0.0.1:{port}", timeout=1).call("GET", "/healthz")
            return proc
        except (OSError, ApiError):
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not come up: {log.read_text()[-2000:]}")


def test_sigkill_mid_opening_then_resume(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ca = Pki.load_or_create(data / "pki").ca
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = _start(data, port, log)
    try:
        agency = ca.issue("CN=agency,OU=agency,O=agency")
        ac = KernelClient(url, agency.key, agency.certificate)
        dl = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)
        t = ac.call("POST", "/tenders", {"title": "crash", "deadline": dl.isoformat()})
        t = ac.call("POST", f"/tenders/{t['id']}/publish")
        opener = Certificate.from_pem(t["opening_certificates"][0].encode())
        prices = {}
        for i in range(BIDS):
            b = ca.issue(f"CN=b{i},OU=bidder,O=b{i}")
            d = tmp_path / f"src-{i}"
            d.mkdir()
            (d / "s.json").write_text(f'{{"price": {1000 + i}}}')
            (d / "doc.bin").write_bytes(os.urandom(1 << 20))
            seal_package(d / "pkg", tender_id=t["id"], opening_certificates=[opener], summary=d / "s.json",
                         files=[("technical", d / "doc.bin")], key=b.key, cert=b.certificate)  # fmt: skip
            r = KernelClient(url, b.key, b.certificate).submit(t["id"], Package.load(d / "pkg"))
            prices[r["body"]["bid_id"]] = 1000 + i
        time.sleep(max(0.0, (dl - dt.datetime.now(dt.UTC)).total_seconds() + 0.5))
        ac.open_tender(t["id"])
        plain = data / "plaintext" / t["id"]
        end = time.monotonic() + 60
        while len(list(plain.glob("*/technical"))) < 4:
            assert time.monotonic() < end, "the bulk decryption did not start"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in plain.glob("*/technical")}
        assert 4 <= len(before) < BIDS, len(before)

        proc = _start(data, port, log)  # the opening resumes by itself (background tick)
        end = time.monotonic() + 120
        while (st := ac.opening_status(t["id"]))["state"] == "opening":
            assert time.monotonic() < end, st
            time.sleep(0.1)
        assert st["state"] == "opened" and st["failures"] == []
        assert {row["bid_id"]: row["fields"]["price"] for row in st["table"]} == prices
        assert sorted(st["record"]["record"]["opened"]) == sorted(prices)
        for p, stat in before.items():  # decrypted once: the same file, never rewritten
            assert (p.stat().st_ino, p.stat().st_mtime_ns) == stat
            assert p.stat().st_size == 1 << 20
        assert len(list(plain.glob("*/technical"))) == BIDS
        assert list(plain.glob("*/.*")) == []  # no partial output left from the killed run
        again = ac.open_tender(t["id"])
        assert again["record_index"] == st["record_index"]
    finally:
        proc.kill()
        proc.wait(10)
    store = SQLiteStore(data / "kernel.sqlite")
    try:
        with store.reader() as r:
            leaves = [decode_leaf(x) for _i, x in r.ledger_iter_leaves()]
            items = [orjson.loads(v) for _k, v in r.opening_entries(t["id"], "item")]
    finally:
        store.close()
    assert [e.kind for e in leaves].count("opening.record") == 1
    assert [e.kind for e in leaves].count("opening.started") == 1
    assert len(items) == 2 * BIDS and all(i["status"] == "done" for i in items)
