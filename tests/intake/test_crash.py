"""Crash test: the server (a real `bidkernel serve` subprocess) is SIGKILLed at random moments during
>= 200 concurrent submissions and restarted. Afterwards every receipt issued still has its bid intact
(blob digests match) and in the ledger; every unacknowledged submission is wholly present or wholly absent;
no orphan or temporary file is left."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from intake_support import free_port

from bidkernel.client import ApiError, KernelClient, Package, seal_package
from bidkernel.crypto.sm3 import sm3_file
from bidkernel.ledger.events import decode_leaf
from bidkernel.platform import Pki, Platform, issue_opening_certificate
from bidkernel.receipt import verify_receipt

BIDDERS = 16
PER_BIDDER = 13  # 208 submissions
KILLS = 3


def _start(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from bidkernel.cli.main import main; main()", "serve", "--data", str(data),
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            KernelClient(f"http://127.0.0.1:{port}", timeout=1).call("GET", "/healthz")
            return proc
        except (OSError, ApiError):
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not come up: {log.read_text()[-2000:]}")


def test_sigkill_during_concurrent_submissions(tmp_path: Path) -> None:
    seed = int(os.environ.get("BIDKERNEL_CRASH_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    data = tmp_path / "data"
    pki = Pki.load_or_create(data / "pki")
    ca = pki.ca
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = _start(data, port, log)
    agency = ca.issue("CN=agency,OU=agency,O=agency")
    opener = issue_opening_certificate(ca, "CN=opening,O=agency")
    ac = KernelClient(url, agency.key, agency.certificate)
    dl = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    t = ac.call("POST", "/tenders", {"title": "crash", "deadline": dl,
                                     "opening_certificates": [opener.certificate.to_pem().decode()]})  # fmt: skip
    ac.call("POST", f"/tenders/{t['id']}/publish")
    bidders = [ca.issue(f"CN=b{i},OU=bidder,O=b{i}") for i in range(BIDDERS)]
    packages: list[list[Package]] = []
    for i, b in enumerate(bidders):
        row = []
        for j in range(PER_BIDDER):
            d = tmp_path / f"src-{i}-{j}"
            d.mkdir()
            (d / "s.json").write_text(f'{{"price": {i * 100 + j}}}')
            (d / "doc.bin").write_bytes(os.urandom(rnd.choice([2_000, 8_000, 40_000])))
            seal_package(d / "pkg", tender_id=t["id"], opening_certificates=[opener.certificate],
                         summary=d / "s.json", files=[("technical", d / "doc.bin")], key=b.key,
                         cert=b.certificate)  # fmt: skip
            row.append(Package.load(d / "pkg"))
        packages.append(row)

    receipts: list[dict[str, Any]] = []
    unacked: list[Package] = []
    refused: list[tuple[Package, ApiError]] = []
    lock = threading.Lock()
    up = threading.Event()
    up.set()
    done = threading.Event()

    def bidder(i: int) -> None:
        c = KernelClient(url, bidders[i].key, bidders[i].certificate, timeout=30)
        for pkg in packages[i]:
            up.wait(60)
            try:
                r = c.submit(t["id"], pkg)
                with lock:
                    receipts.append(r)
            except ApiError as e:
                with lock:
                    refused.append((pkg, e))
            except OSError:
                with lock:
                    unacked.append(pkg)

    def killer() -> None:
        nonlocal proc
        for _ in range(KILLS):
            time.sleep(rnd.uniform(0.2, 1.2))
            if done.is_set():
                return
            up.clear()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = _start(data, port, log)
            up.set()

    threads = [threading.Thread(target=bidder, args=(i,)) for i in range(BIDDERS)]
    k = threading.Thread(target=killer)
    for th in threads:
        th.start()
    k.start()
    for th in threads:
        th.join(300)
    done.set()
    k.join(120)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(receipts) + len(unacked) + len(refused) == BIDDERS * PER_BIDDER >= 200
    assert not refused, (seed, [(str(e)) for _p, e in refused][:5])
    assert unacked, f"seed {seed}: no submission was interrupted; the kills came too late"

    platform = Platform.open(data)  # what a restart sees (orphan sweep included)
    try:
        with platform.store.reader() as r:
            rows = r.bids_of_tender(t["id"])
            refs = r.blob_refs()
        by_id = {b.id: b for b in rows}
        by_digests = {tuple(x["sm3"] for x in orjson.loads(b.manifest)): b for b in rows}

        def intact(b: Any) -> None:
            for env in orjson.loads(b.manifest):
                assert sm3_file(platform.blobs.path(env["sm3"])).hex() == env["sm3"]
            e = decode_leaf(platform.log.leaf(b.log_index))
            assert e.data["bid_id"] == b.id and e.data["bidder"] == b.bidder_fp

        for rc in receipts:  # every receipt: bid intact and in the ledger
            verify_receipt(rc, roots=[ca.root.certificate])
            b = by_id[rc["body"]["bid_id"]]
            assert [x["sm3"] for x in orjson.loads(b.manifest)] == [x["sm3"] for x in rc["body"]["envelopes"]]
            intact(b)
            assert platform.log.inclusion_proof(b.log_index).leaf_hash.hex() == rc["body"]["leaf_hash"]
        present = 0
        for pkg in unacked:  # wholly present or wholly absent
            digests = tuple(x["sm3"] for x in pkg.manifest["envelopes"])
            if digests in by_digests:
                intact(by_digests[digests])
                present += 1
            else:
                assert not any(platform.blobs.exists(d) for d in digests), f"seed {seed}: partial submission"
        for b in rows:
            intact(b)
        assert set(platform.blobs.iter_names()) == refs  # no orphan blob
        assert not list(platform.blobs.tmp_dir.iterdir())  # no temporary file
        assert len(rows) == len(receipts) + present
        live = [b for b in rows if b.status == "live"]
        assert len({b.bidder_fp for b in live}) == len(live) == BIDDERS
    finally:
        platform.close()
