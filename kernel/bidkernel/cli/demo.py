"""``bidkernel demo``: the main job on the embedded default, end to end, printed for a newcomer.

The crypto self-check, then a real kernel (SQLite + files in a temporary or given data dir) served by
uvicorn on loopback: an agency publishes a tender, four bidders seal their bids offline (GM/T 0010
envelopes to the tender's opening certificate, SM2 signatures) and submit them over signed HTTP
requests; one replaces its bid, one withdraws, one arrives after the deadline and is refused by the
platform's trusted clock; every receipt is verified offline; the closing record seals the live bids; then
the agency opens the tender (platform custody: the kernel's own opening key, sealed under the master key):
the 唱标 table first, the documents in one native batch, and a signed, timestamped opening record.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import click

from bidkernel.selfcheck import run_selfcheck


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@click.command()
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help="Data dir (default: a temp dir).")
@click.option("--deadline-seconds", default=4.0, show_default=True, help="Seconds from now to the bid deadline.")
def demo(data: Path | None, deadline_seconds: float) -> None:
    """Run the kernel's main job on the embedded default and print what happened."""
    results = run_selfcheck()
    failed = 0
    for name, ok, detail in results:
        click.echo(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
        failed += not ok
    if failed:
        raise click.ClickException(f"{failed} self-check(s) failed")
    click.echo(f"demo: {len(results)} checks passed")
    if data is None:
        with tempfile.TemporaryDirectory(prefix="bidkernel-demo-") as tmp:
            _tender_demo(Path(tmp), deadline_seconds)
    else:
        _tender_demo(data, deadline_seconds)


def _tender_demo(data: Path, deadline_seconds: float) -> None:
    import uvicorn

    from bidkernel.api.kernel_routes import create_kernel_app
    from bidkernel.client import ApiError, KernelClient, Package, seal_package
    from bidkernel.crypto.x509 import Certificate
    from bidkernel.platform import Platform
    from bidkernel.receipt import verify_receipt

    say = click.echo
    platform = Platform.open(data / "kernel")
    app = create_kernel_app(platform, seal_interval_s=0.1)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        say(f"\nkernel: {data / 'kernel'} served at {url} (SQLite WAL synchronous=FULL + content-addressed files)")
        ca = platform.pki.ca
        agency = ca.issue("CN=Provincial Procurement Agency,OU=agency,O=Provincial Procurement Agency")
        bidders = {n: ca.issue(f"CN={n},OU=bidder,O={n}") for n in ("Alpha Co", "Beta Co", "Gamma Co", "Delta Co")}
        supervisor = ca.issue("CN=Finance Bureau,OU=supervisor,O=Finance Bureau")
        ac = KernelClient(url, agency.key, agency.certificate)
        deadline = platform.clock.now() + _dt.timedelta(seconds=deadline_seconds)
        t = ac.call("POST", "/tenders", {
            "title": "City road resurfacing 2026", "deadline": deadline.isoformat(),
            "lots": [{"id": "1", "name": "North district"}], "custody": "platform",
        })  # fmt: skip
        t = ac.call("POST", f"/tenders/{t['id']}/publish")
        opener = Certificate.from_pem(t["opening_certificates"][0].encode())
        say(f"agency published tender {t['id']} '{t['title']}': deadline {t['deadline']} (trusted time), "
            f"custody {t['custody']}: the kernel generated the opening key, sealed under its master key")  # fmt: skip
        work = data / "bidders"
        receipts = []

        def seal_and_submit(name: str, price: int, tag: str) -> dict[str, object]:
            b = bidders[name]
            d = work / f"{name.replace(' ', '_')}-{tag}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "summary.json").write_text(f'{{"bidder": "{name}", "price": {price}, "days": 120}}')
            (d / "technical.pdf").write_bytes(os.urandom(64 * 1024))
            (d / "commercial.pdf").write_bytes(os.urandom(16 * 1024))
            seal_package(d / "pkg", tender_id=t["id"], opening_certificates=[opener],
                         summary=d / "summary.json",
                         files=[("technical", d / "technical.pdf"), ("commercial", d / "commercial.pdf")],
                         key=b.key, cert=b.certificate)  # fmt: skip
            r: dict[str, object] = KernelClient(url, b.key, b.certificate).submit(t["id"], Package.load(d / "pkg"))
            return r

        for name, price in (("Alpha Co", 1_250_000), ("Beta Co", 1_180_000), ("Gamma Co", 1_300_000)):
            r = seal_and_submit(name, price, "v1")
            body = r["body"]
            assert isinstance(body, dict)
            receipts.append(r)
            say(f"  {name}: sealed 3 envelopes (唱标 summary apart), submitted -> receipt for bid {body['bid_id']} "
                f"at {body['received_at']}, log index {body['log_index']}")  # fmt: skip
        r = seal_and_submit("Beta Co", 1_150_000, "v2")
        body = r["body"]
        assert isinstance(body, dict)
        receipts.append(r)
        say(f"  Beta Co: replaced its bid with {body['bid_id']} (replaces {body['replaces']}); the latest counts")
        gamma_bid = receipts[2]["body"]["bid_id"]  # type: ignore[index]
        g = bidders["Gamma Co"]
        w = KernelClient(url, g.key, g.certificate).call("POST", f"/bids/{gamma_bid}/withdraw")
        receipts.append(w)
        say(f"  Gamma Co: withdrew bid {gamma_bid} -> withdrawal receipt at log index {w['body']['log_index']}")
        try:
            KernelClient(url).call("GET", f"/tenders/{t['id']}/bids")
        except ApiError as exc:
            say(f"  public asking who bid before the deadline: refused ({exc.status} {exc.kind})")
        for r in receipts:
            verify_receipt(r, roots=[ca.root.certificate])
        say(f"  {len(receipts)} receipts verified offline: platform SM2 signature and certificate chain, "
            "RFC 3161 token, inclusion proof against a signed checkpoint")  # fmt: skip
        wait = (deadline - platform.clock.now()).total_seconds() + 0.3
        say(f"waiting {max(wait, 0):.1f} s for the deadline (trusted clock)...")
        time.sleep(max(wait, 0))
        try:
            seal_and_submit("Delta Co", 990_000, "late")
            raise click.ClickException("a late bid was accepted")
        except ApiError as exc:
            say(f"  Delta Co: submitted after the deadline -> refused ({exc.status} {exc.kind})")
        for _ in range(50):
            try:
                closing = KernelClient(url).call("GET", f"/tenders/{t['id']}/closing")
                break
            except ApiError:
                time.sleep(0.1)
        else:
            raise click.ClickException("the tender was not sealed")
        say(f"closing record: {closing['count']} live bids sealed at log index {closing['log_index']}, "
            "signed checkpoint + RFC 3161 token")  # fmt: skip
        sc = KernelClient(url, supervisor.key, supervisor.certificate)
        rows = sc.call("GET", f"/tenders/{t['id']}/bids")
        for row in rows:
            say(f"  supervisor sees: {row['bidder_org']:<9} bid {row['id']} {row['status']}")
        live = sorted(row["id"] for row in rows if row["status"] == "live")
        if live != sorted(closing["live_bids"]):
            raise click.ClickException("the live bids differ from the closing record")
        say("nothing has been decrypted so far; the agency opens the tender (trusted time >= opening time):")
        st = ac.open_tender(t["id"])
        for _ in range(600):
            if st["state"] in ("opened", "failed"):
                break
            time.sleep(0.05)
            st = ac.opening_status(t["id"])
        else:
            raise click.ClickException("the opening did not finish")
        ready, done = st["summary_ms"] - st["started_ms"], st["finished_ms"] - st["started_ms"]
        say(f"  唱标 table ready {ready} ms after the start; documents decrypted {done} ms after the start "
            "(one native batch, SM3 re-checked)")  # fmt: skip
        say(f"  {'bidder':<10} {'price':>12} {'days':>5}  status")
        for row in st["table"]:
            f = row.get("fields") or {}
            say(f"  {row['bidder_org']:<10} {f.get('price', '-'):>12} {f.get('days', '-'):>5}  {row['status']}")
        rec = st["record"]
        say(f"opening record: {st['state']}, {len(rec['record']['opened'])} bids opened, "
            f"{len(rec['record']['failed'])} failed; signed by the platform, RFC 3161 timestamped, "
            f"ledger index {st['record_index']} (SM3 {rec['record_sm3'][:16]}...)")  # fmt: skip
        if st["state"] == "failed":
            say(f"  fewer valid bids than the quorum of {rec['record']['quorum']}: the procedure fails and is re-run")
        say("demo: tender run complete, through the opening")
    finally:
        server.should_exit = True
        thread.join(10)
        platform.close()
