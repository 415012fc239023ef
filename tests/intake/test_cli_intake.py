"""`bidkernel bid seal`, `bid submit`, `receipt verify` and `serve` argument errors, against a real server."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
from click.testing import CliRunner
from intake_support import Kernel

from bidkernel.cli.main import build_cli


def _write_identity(k: Kernel, name: str, d: Path) -> tuple[Path, Path]:
    i = k.identity(name, "bidder")
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    key.write_bytes(i.key.to_pkcs8(True))
    cert.write_bytes(i.certificate.to_pem())
    return key, cert


def test_seal_submit_verify(kernel: Kernel, tmp_path: Path) -> None:
    k = kernel
    t = k.tender()
    (tmp_path / "tender.json").write_bytes(orjson.dumps(k.client().call("GET", f"/tenders/{t['id']}")))
    (tmp_path / "summary.json").write_text('{"price": 12345}')
    (tmp_path / "tech.pdf").write_bytes(b"%PDF technical" * 1000)
    key, cert = _write_identity(k, "cli-bidder", tmp_path)
    cli = build_cli()
    r = CliRunner().invoke(cli, ["bid", "seal", "--tender", str(tmp_path / "tender.json"), "--summary",
                                 str(tmp_path / "summary.json"), "--file", f"technical={tmp_path / 'tech.pdf'}",
                                 "--key", str(key), "--cert", str(cert), "--out", str(tmp_path / "pkg")])  # fmt: skip
    assert r.exit_code == 1 and "say which with --lot" in r.output  # two lots: the bidder must choose
    r = CliRunner().invoke(cli, ["bid", "seal", "--tender", str(tmp_path / "tender.json"), "--summary",
                                 str(tmp_path / "summary.json"), "--file", f"technical={tmp_path / 'tech.pdf'}",
                                 "--key", str(key), "--cert", str(cert), "--out", str(tmp_path / "pkg"),
                                 "--lot", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "sealed summary" in r.output and "sealed technical" in r.output
    r = CliRunner().invoke(cli, ["bid", "submit", str(tmp_path / "pkg"), "--server", k.url, "--key", str(key),
                                 "--cert", str(cert), "--receipt", str(tmp_path / "receipt.json")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "accepted: bid" in r.output
    root = tmp_path / "root.pem"
    root.write_bytes(k.platform.pki.ca.root.certificate.to_pem())
    r = CliRunner().invoke(cli, ["receipt", "verify", str(tmp_path / "receipt.json"), "--trust", str(root)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("OK: bid.received")
    # the receipt served later is the one issued (stored), and verifies the same way
    issued = orjson.loads((tmp_path / "receipt.json").read_bytes())
    assert issued["body"]["lot"] == "2"
    served = k.client("cli-bidder").call("GET", f"/bids/{issued['body']['bid_id']}/receipt")
    assert served == issued
    (tmp_path / "served.json").write_bytes(orjson.dumps(served))
    r = CliRunner().invoke(cli, ["receipt", "verify", str(tmp_path / "served.json"), "--trust", str(root)])
    assert r.exit_code == 0 and r.output.startswith("OK: bid.received"), r.output

    # tampering with any part fails with exit 1
    doc = orjson.loads((tmp_path / "receipt.json").read_bytes())
    cases = {
        "size": lambda d: d["body"]["envelopes"][0].__setitem__("size", d["body"]["envelopes"][0]["size"] + 1),
        "time": lambda d: d["body"].__setitem__("received_ms", d["body"]["received_ms"] - 1),
        "token": lambda d: d.__setitem__("timestamp_token", base64.b64encode(b"\x30\x03\x02\x01\x00").decode()),
        "proof": lambda d: d["inclusion_proof"].__setitem__("leaf_index", d["inclusion_proof"]["leaf_index"] + 1),
    }
    for name, mutate in cases.items():
        bad = orjson.loads(orjson.dumps(doc))
        mutate(bad)
        p = tmp_path / f"bad-{name}.json"
        p.write_bytes(orjson.dumps(bad))
        r = CliRunner().invoke(cli, ["receipt", "verify", str(p), "--trust", str(root)])
        assert r.exit_code == 1, (name, r.output)
        assert "FAIL" in r.output
    # another root: the chain does not verify
    from bidkernel.crypto.ca import TestCA

    other = tmp_path / "other.pem"
    other.write_bytes(TestCA.create().root.certificate.to_pem())
    r = CliRunner().invoke(cli, ["receipt", "verify", str(tmp_path / "receipt.json"), "--trust", str(other)])
    assert r.exit_code == 1 and "certificate" in r.output

    # the same package again is refused? no: it is a fresh request (new nonce) and replaces the bid
    r = CliRunner().invoke(cli, ["bid", "submit", str(tmp_path / "pkg"), "--server", k.url, "--key", str(key),
                                 "--cert", str(cert), "--receipt", str(tmp_path / "receipt2.json")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert orjson.loads((tmp_path / "receipt2.json").read_bytes())["body"]["kind"] == "bid.replaced"


def test_cli_bad_input_is_clear(kernel: Kernel, tmp_path: Path) -> None:
    cli = build_cli()
    (tmp_path / "x.txt").write_text("not json")
    key, cert = _write_identity(kernel, "b", tmp_path)
    x = str(tmp_path / "x.txt")
    r = CliRunner().invoke(cli, ["bid", "seal", "--tender", x, "--summary", x,
                                 "--key", str(key), "--cert", str(cert), "--out", str(tmp_path / "o")])  # fmt: skip
    assert r.exit_code != 0 and "not a tender's public JSON" in r.output
    r = CliRunner().invoke(cli, ["bid", "submit", str(tmp_path), "--server", kernel.url, "--key", str(key),
                                 "--cert", str(cert)])  # fmt: skip
    assert r.exit_code != 0 and "manifest.json" in r.output
    r = CliRunner().invoke(cli, ["receipt", "verify", str(tmp_path / "x.txt")])
    assert r.exit_code == 1 and "not JSON" in r.output
    # a package for a tender that does not exist: the server's problem is shown
    t = kernel.tender()
    pkg = kernel.seal("b", t["id"])
    m = orjson.loads((pkg.dir / "manifest.json").read_bytes())
    m["tender_id"] = "t-0000000000000000"
    (pkg.dir / "manifest.json").write_bytes(orjson.dumps(m))
    r = CliRunner().invoke(cli, ["bid", "submit", str(pkg.dir), "--server", kernel.url, "--key", str(key),
                                 "--cert", str(cert)])  # fmt: skip
    assert r.exit_code != 0 and "not-found" in r.output


def test_demo_runs_a_whole_tender(tmp_path: Path) -> None:
    r = CliRunner().invoke(build_cli(), ["demo", "--data", str(tmp_path / "d"), "--deadline-seconds", "2.5"])
    assert r.exit_code == 0, r.output
    expected_lines = (
        "checks passed",
        "replaced its bid",
        "withdrew bid",
        "receipts verified offline",
        "refused (409 deadline-passed)",
        "closing record: 2 live bids",
        "tender run complete",
    )
    for expected in expected_lines:
        assert expected in r.output, expected
