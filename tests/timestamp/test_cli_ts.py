"""`bidkernel ts query|reply|verify` (the installed console script) interoperating with `openssl ts`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ts_pki import Issued, openssl, openssl_ts_config

from bidkernel.timestamp import parse_reply, parse_request
from bidkernel.timestamp.verify import describe_token


def bk(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("bidkernel")
    assert exe, "the bidkernel console script is installed"
    res = subprocess.run([exe, "ts", *args], capture_output=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"bidkernel ts {args} -> {res.returncode}: {res.stdout!r} {res.stderr!r}")
    return res


@pytest.fixture
def cfg(tmp_path: Path, tsa_cert: Issued, ca: Issued) -> Path:
    p = tmp_path / "tsa.toml"
    p.write_text(
        f'[tsa]\nprofile = "ecdsa-p256-sha256"\nkey = "{tsa_cert.key_path}"\ncert = "{tsa_cert.cert_path}"\n'
        f'chain = ["{ca.cert_path}"]\npolicy = "1.2.3.4.1"\nserial_db = "serial.sqlite"\n'
    )
    return p


def test_query_reply_verify_round_trip_with_openssl(tmp_path: Path, cfg: Path, ca: Issued, tsa_cert: Issued) -> None:
    data = tmp_path / "bid.bin"
    data.write_bytes(b"technical envelope" * 100)
    q, r, t = tmp_path / "q.tsq", tmp_path / "r.tsr", tmp_path / "t.tst"
    bk("query", "-data", str(data), "-sha256", "-cert", "-out", str(q))
    req = parse_request(q.read_bytes())
    assert req.cert_req and req.nonce is not None and req.hash_algorithm == "sha256"
    # OpenSSL reads our request
    assert b"Hash Algorithm: sha256" in openssl("ts", "-query", "-in", str(q), "-text").stdout
    bk("reply", "-queryfile", str(q), "-config", str(cfg), "-out", str(r))
    bk("reply", "-queryfile", str(q), "-config", str(cfg), "-token_out", "-out", str(t))
    assert (tmp_path / "serial.sqlite").exists()  # relative to the config file
    assert describe_token(t.read_bytes()).serial_number > parse_reply(r.read_bytes()).status
    # OpenSSL verifies our reply; we verify it three ways
    res = openssl("ts", "-verify", "-in", str(r), "-queryfile", str(q), "-CAfile", str(ca.cert_path), check=False)
    assert res.returncode == 0, res.stderr
    out = bk("verify", "-in", str(r), "-queryfile", str(q), "-CAfile", str(ca.cert_path)).stdout
    assert out.startswith(b"Verification: OK")
    bk("verify", "-in", str(r), "-data", str(data), "-CAfile", str(ca.cert_path))
    bk("verify", "-in", str(t), "-token_in", "-data", str(data), "-CAfile", str(ca.cert_path))
    text = bk("reply", "-in", str(r), "-text").stdout.decode()
    assert "Status: Granted." in text and f"Nonce: {hex(req.nonce)}" in text


def test_verify_fails_with_exit_1(tmp_path: Path, cfg: Path, ca: Issued) -> None:
    (tmp_path / "a").write_bytes(b"A")
    (tmp_path / "b").write_bytes(b"B")
    q, r = tmp_path / "q", tmp_path / "r"
    bk("query", "-data", str(tmp_path / "a"), "-cert", "-out", str(q))
    bk("reply", "-queryfile", str(q), "-config", str(cfg), "-out", str(r))
    res = bk("verify", "-in", str(r), "-data", str(tmp_path / "b"), "-CAfile", str(ca.cert_path), check=False)
    assert res.returncode == 1 and b"Verification: FAILED" in res.stdout and b"imprint_mismatch" in res.stdout
    bad = bytearray(r.read_bytes())
    bad[-5] ^= 1
    (tmp_path / "bad").write_bytes(bytes(bad))
    res = bk("verify", "-in", str(tmp_path / "bad"), "-queryfile", str(q), "-CAfile", str(ca.cert_path), check=False)
    assert res.returncode == 1 and b"Verification: FAILED" in res.stdout


def test_verify_openssl_reply_and_openssl_query(tmp_path: Path, ca: Issued, tsa_cert: Issued, cfg: Path) -> None:
    cnf = openssl_ts_config(tmp_path, tsa_cert, ca)
    (tmp_path / "d").write_bytes(b"d")
    q, r, r2 = tmp_path / "q", tmp_path / "r", tmp_path / "r2"
    openssl("ts", "-query", "-data", str(tmp_path / "d"), "-sha512", "-cert", "-out", str(q))
    openssl("ts", "-reply", "-config", str(cnf), "-queryfile", str(q), "-out", str(r))
    assert bk("verify", "-in", str(r), "-queryfile", str(q), "-CAfile", str(ca.cert_path)).returncode == 0
    bk("reply", "-queryfile", str(q), "-config", str(cfg), "-out", str(r2))  # our TSA answers OpenSSL's query
    res = openssl("ts", "-verify", "-in", str(r2), "-queryfile", str(q), "-CAfile", str(ca.cert_path), check=False)
    assert res.returncode == 0, res.stderr


def test_reply_with_key_and_signer_options_and_digest_query(tmp_path: Path, tsa_cert: Issued, ca: Issued) -> None:
    q, r = tmp_path / "q", tmp_path / "r"
    bk("query", "-digest", "ab" * 32, "-sm3", "-no_nonce", "-out", str(q))
    assert parse_request(q.read_bytes()).nonce is None
    bk(
        "reply", "-queryfile", str(q), "-inkey", str(tsa_cert.key_path), "-signer", str(tsa_cert.cert_path),
        "-policy", "1.2.3.4.1", "-serial_db", str(tmp_path / "s.sqlite"), "-out", str(r),
    )  # fmt: skip
    res = bk(
        "verify", "-in", str(r), "-digest", "ab" * 32, "-CAfile", str(ca.cert_path),
        "-untrusted", str(tsa_cert.cert_path),
    )  # fmt: skip
    assert res.returncode == 0


def test_usage_errors(tmp_path: Path) -> None:
    res = bk("query", "-digest", "abcd", "-out", str(tmp_path / "q"), check=False)
    assert res.returncode == 2 and b"32 bytes" in res.stderr
    res = bk("query", "-sha256", "-sm3", "-digest", "00" * 32, check=False)
    assert res.returncode == 2
    res = bk("reply", "-queryfile", __file__, check=False)
    assert res.returncode == 2 and b"-inkey" in res.stderr
    assert not (tmp_path / "q").exists()  # nothing written on error


def test_ts_serve_answers_openssl_over_http(tmp_path: Path, cfg: Path, ca: Issued) -> None:
    import socket
    import time
    import urllib.request

    from ts_support import free_port

    port = free_port()
    exe = shutil.which("bidkernel")
    assert exe
    proc = subprocess.Popen(
        [exe, "ts", "serve", "-config", str(cfg), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
                assert time.monotonic() < deadline, "bidkernel ts serve did not start"
                time.sleep(0.1)
        (tmp_path / "d").write_bytes(b"bid")
        q, r = tmp_path / "q", tmp_path / "r"
        openssl("ts", "-query", "-data", str(tmp_path / "d"), "-sha256", "-cert", "-out", str(q))
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/tsa",
            data=q.read_bytes(),
            method="POST",
            headers={"Content-Type": "application/timestamp-query"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["Content-Type"] == "application/timestamp-reply"
            r.write_bytes(resp.read())
        res = openssl("ts", "-verify", "-in", str(r), "-queryfile", str(q), "-CAfile", str(ca.cert_path), check=False)
        assert res.returncode == 0, res.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
