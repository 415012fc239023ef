"""Interop with the OpenSSL CLI (RFC 3161): `openssl ts -query` requests sent over HTTP to our TSA on a real
uvicorn server, replies checked by `openssl ts -reply -text` and `openssl ts -verify`; tokens made by an
OpenSSL TSA (`openssl ts -reply` with a test openssl.cnf) accepted by our verifier."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from ts_pki import Issued, openssl, openssl_ts_config
from ts_support import POLICY, build_authority

from bidkernel.api.app import create_app
from bidkernel.timestamp import Trust, parse_request, verify_against_request, verify_reply
from bidkernel.timestamp.verify import parse_reply


def post(url: str, body: bytes, ctype: str = "application/timestamp-query") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


@pytest.fixture
def tsa_url(tsa_cert: Issued, tmp_path: Path, server):
    app = create_app(tsa=build_authority(tsa_cert, tmp_path / "serial.sqlite"))
    with server(app) as base:
        yield base + "/tsa"


@pytest.mark.parametrize("flags", [["-sha256", "-cert"], ["-sha512", "-cert", "-no_nonce"], ["-sha384"]])
def test_openssl_query_reply_text_and_verify(flags, tsa_url, tmp_path: Path, ca: Issued, tsa_cert: Issued) -> None:
    data = tmp_path / "bid.bin"
    data.write_bytes(b"sealed bid \x00\x01" * 1000)
    q, r = tmp_path / "q.tsq", tmp_path / "r.tsr"
    openssl("ts", "-query", "-data", str(data), *flags, "-out", str(q))
    status, ctype, body = post(tsa_url, q.read_bytes())
    assert status == 200 and ctype == "application/timestamp-reply"
    r.write_bytes(body)

    text = openssl("ts", "-reply", "-in", str(r), "-text").stdout.decode()
    assert "Status: Granted." in text
    assert "Policy OID: tsa_policy1" in text or POLICY in text
    assert "Accuracy:" in text and "unspecified seconds, 0x33 millis" in text  # 50 ms clock + 1 ms precision
    req = parse_request(q.read_bytes())
    if req.nonce is None:
        assert "Nonce: unspecified" in text
    else:
        assert re.search(rf"Nonce: 0x0*{req.nonce:X}\b", text), text

    res = openssl(
        "ts", "-verify", "-in", str(r), "-queryfile", str(q), "-CAfile", str(ca.cert_path),
        "-untrusted", str(tsa_cert.cert_path), check=False,
    )  # fmt: skip
    assert res.returncode == 0 and b"Verification: OK" in res.stdout, res.stderr
    # and against the data itself
    res = openssl(
        "ts", "-verify", "-in", str(r), "-data", str(data), "-CAfile", str(ca.cert_path),
        "-untrusted", str(tsa_cert.cert_path), check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    # our verifier agrees
    info = verify_against_request(body, q.read_bytes(), Trust([ca.cert], [tsa_cert.cert]))
    assert info.policy == POLICY and info.nonce == req.nonce


def test_openssl_verify_fails_on_other_data(tsa_url, tmp_path: Path, ca: Issued, tsa_cert: Issued) -> None:
    (tmp_path / "a").write_bytes(b"bid A")
    (tmp_path / "b").write_bytes(b"bid B")
    openssl("ts", "-query", "-data", str(tmp_path / "a"), "-sha256", "-cert", "-out", str(tmp_path / "q"))
    _, _, body = post(tsa_url, (tmp_path / "q").read_bytes())
    (tmp_path / "r").write_bytes(body)
    res = openssl(
        "ts", "-verify", "-in", str(tmp_path / "r"), "-data", str(tmp_path / "b"), "-CAfile", str(ca.cert_path),
        check=False,
    )  # fmt: skip
    assert res.returncode != 0 and b"message imprint mismatch" in res.stdout + res.stderr


def test_serials_unique_and_persistent_across_restarts(tsa_cert: Issued, tmp_path: Path, ca: Issued) -> None:
    db = tmp_path / "serial.sqlite"
    seen: list[int] = []
    for _restart in range(3):
        auth = build_authority(tsa_cert, db)
        for i in range(5):
            tok = auth.stamp(b"x%d" % i)
            from bidkernel.timestamp import verify_token

            seen.append(verify_token(tok, b"x%d" % i, Trust([ca.cert])).serial_number)
        auth.serials.close()  # type: ignore[attr-defined]
    assert len(set(seen)) == len(seen) == 15
    assert seen == sorted(seen)


@pytest.mark.parametrize("ess_alg", [None, "sha1", "sha256", "sha512"])
def test_our_verifier_accepts_openssl_tsa_tokens(ess_alg, tmp_path: Path, ca: Issued, tsa_cert: Issued) -> None:
    cnf = openssl_ts_config(tmp_path, tsa_cert, ca, ess_alg=ess_alg)
    data = tmp_path / "d"
    data.write_bytes(b"opening record")
    q, r, t = tmp_path / "q", tmp_path / "r", tmp_path / "t"
    openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(q))
    openssl("ts", "-reply", "-config", str(cnf), "-queryfile", str(q), "-out", str(r))
    openssl("ts", "-reply", "-config", str(cnf), "-queryfile", str(q), "-token_out", "-out", str(t))
    trust = Trust([ca.cert])
    info = verify_against_request(r.read_bytes(), q.read_bytes(), trust)
    assert info.policy == POLICY and info.signer_subject == tsa_cert.cert.subject.rfc4514_string()
    assert info.accuracy == pytest.approx(1.5001)
    info2 = verify_against_request(t.read_bytes(), q.read_bytes(), trust, is_token=True)
    assert info2.message_imprint == info.message_imprint
    assert verify_reply(r.read_bytes(), data.read_bytes(), trust).nonce == parse_request(q.read_bytes()).nonce


def test_openssl_parses_our_rejection(tsa_url, tmp_path: Path) -> None:
    q = tmp_path / "q"
    (tmp_path / "d").write_bytes(b"x")
    openssl("ts", "-query", "-data", str(tmp_path / "d"), "-sha1", "-out", str(q))
    status, ctype, body = post(tsa_url, q.read_bytes())
    assert status == 200 and ctype == "application/timestamp-reply"
    rep = parse_reply(body)
    assert rep.status == 2 and rep.fail_info == ("badAlg",) and rep.token is None
    (tmp_path / "r").write_bytes(body)
    text = openssl("ts", "-reply", "-in", str(tmp_path / "r"), "-text").stdout.decode()
    assert "Status: Rejected." in text and "unrecognized or unsupported algorithm identifier" in text, text
