"""The bad-input matrix: each refusal has its own problem type and leaves no trace — no blob file, no
temporary file, no bid row, no ledger leaf."""

from __future__ import annotations

import base64
import datetime as dt
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from intake_support import Kernel, start_kernel

from bidkernel.authn import sign_headers
from bidkernel.client import ApiError, KernelClient, Package
from bidkernel.crypto.ca import TestCA
from bidkernel.crypto.envelope import sign_digest
from bidkernel.crypto.sm3 import sm3
from bidkernel.intake import MAGIC
from bidkernel.platform import Limits


def _trace(k: Kernel) -> tuple[int, int, frozenset[str], int]:
    blobs = frozenset(k.platform.blobs.iter_names())
    tmp = len(list(k.platform.blobs.tmp_dir.iterdir()))
    with k.platform.store.reader() as r:
        rows = sum(len(r.bids_of_tender(t.id)) for t in r.tenders_list())
        size = r.ledger_size()
    return rows, size, blobs, tmp


def _expect(k: Kernel, fn: Callable[[], Any], status: int, kind: str) -> ApiError:
    before = _trace(k)
    with pytest.raises(ApiError) as e:
        fn()
    assert (e.value.status, e.value.kind) == (status, kind), e.value.problem
    assert e.value.problem["type"] == f"https://bidkernel.dev/problems/{kind}"
    assert e.value.problem.get("detail")
    assert _trace(k) == before  # nothing left behind
    return e.value


def _repackage(pkg: Package, out: Path, mutate: Callable[[dict[str, Any], Path], None]) -> Package:
    out.mkdir()
    m = orjson.loads(orjson.dumps(pkg.manifest))
    for e in m["envelopes"]:
        (out / f"{e['name']}.env").write_bytes((pkg.dir / f"{e['name']}.env").read_bytes())
    mutate(m, out)
    (out / "manifest.json").write_bytes(orjson.dumps(m))
    return Package.load(out)


@pytest.fixture
def setup(kernel: Kernel) -> tuple[Kernel, dict[str, Any]]:
    t = kernel.tender(seconds=600)
    kernel.client("b1").submit(t["id"], kernel.seal("b1", t["id"]))  # some state to keep intact
    return kernel, t


def test_unencrypted_file(setup: tuple[Kernel, dict[str, Any]], tmp_path: Path) -> None:
    k, t = setup
    pkg = k.seal("b2", t["id"])
    b2 = k.ids["b2"]

    def plain(m: dict[str, Any], d: Path) -> None:
        data = b"%PDF-1.7 plain technical offer, not encrypted" * 50
        (d / "technical.env").write_bytes(data)
        e = next(x for x in m["envelopes"] if x["name"] == "technical")
        e["sm3"], e["size"] = sm3(data).hex(), len(data)
        e["signature"] = base64.b64encode(sign_digest(sm3(data), b2.key, b2.certificate)).decode()

    bad = _repackage(pkg, tmp_path / "plain", plain)
    err = _expect(k, lambda: k.client("b2").submit(t["id"], bad), 422, "unencrypted-envelope")
    assert "encrypted" in err.problem["title"]


def test_envelope_sealed_to_other_recipients(setup: tuple[Kernel, dict[str, Any]], tmp_path: Path) -> None:
    k, t = setup
    other = TestCA.create().issue("CN=someone else,O=x")
    from bidkernel.client import seal_package

    (tmp_path / "s.json").write_text("{}")
    b2 = k.identity("b2", "bidder")
    seal_package(tmp_path / "p", tender_id=t["id"], lot="1", opening_certificates=[other.certificate],
                 summary=tmp_path / "s.json", files=[], key=b2.key, cert=b2.certificate)  # fmt: skip
    _expect(k, lambda: k.client("b2").submit(t["id"], Package.load(tmp_path / "p")), 422, "wrong-recipients")


def test_wrong_tender(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    t2 = k.tender(seconds=600)
    pkg = k.seal("b2", t2["id"])
    _expect(k, lambda: k.client("b2").submit(t["id"], pkg), 422, "wrong-tender")


def test_unknown_ids(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    pkg = k.seal("b1", t["id"])
    _expect(k, lambda: k.client("b1").submit("t-0000000000000000", pkg), 404, "not-found")
    for method, path in (("GET", "/tenders/t-0000000000000000"), ("GET", "/bids/b-0000000000000000"),
                         ("GET", "/bids/b-0000000000000000/receipt"), ("POST", "/bids/b-0000000000000000/withdraw"),
                         ("GET", "/bids/not-an-id")):  # fmt: skip
        _expect(k, lambda m=method, p=path: k.client("b1").call(m, p), 404, "not-found")


def test_bad_signature(setup: tuple[Kernel, dict[str, Any]], tmp_path: Path) -> None:
    k, t = setup
    pkg = k.seal("b2", t["id"])
    b3 = k.identity("b3", "bidder")

    def forge(m: dict[str, Any], d: Path) -> None:  # signed by someone else's key
        e = m["envelopes"][0]
        e["signature"] = base64.b64encode(sign_digest(bytes.fromhex(e["sm3"]), b3.key, b3.certificate)).decode()

    bad = _repackage(pkg, tmp_path / "forged", forge)
    _expect(k, lambda: k.client("b2").submit(t["id"], bad), 422, "bad-signature")


def test_tampered_envelope_digest(setup: tuple[Kernel, dict[str, Any]], tmp_path: Path) -> None:
    k, t = setup
    pkg = k.seal("b2", t["id"])

    def flip(m: dict[str, Any], d: Path) -> None:
        p = d / "technical.env"
        b = bytearray(p.read_bytes())
        b[-1] ^= 1
        p.write_bytes(bytes(b))

    bad = _repackage(pkg, tmp_path / "flipped", flip)
    _expect(k, lambda: k.client("b2").submit(t["id"], bad), 422, "digest-mismatch")


def test_unknown_expired_revoked_certificates(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    stranger = TestCA.create().issue("CN=stranger,OU=bidder,O=stranger")
    pkg = k.seal("b2", t["id"])
    c = KernelClient(k.url, stranger.key, stranger.certificate)
    _expect(k, lambda: c.submit(t["id"], pkg), 401, "certificate-untrusted")
    # a fingerprint the platform never saw
    h = sign_headers(stranger.key, stranger.certificate, "GET", f"/tenders/{t['id']}/bids", send_cert=False)
    _expect(k, lambda: _raise(k.client().raw("GET", f"/tenders/{t['id']}/bids", headers=h, sign=False)), 401,
            "unknown-certificate")  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    old = k.platform.pki.ca.issue("CN=old,OU=bidder,O=old", not_before=now - dt.timedelta(days=30),
                                  not_after=now - dt.timedelta(days=1))  # fmt: skip
    k.ids["old"] = old
    _expect(k, lambda: k.client("old").submit(t["id"], k.seal("old", t["id"])), 401, "certificate-expired")
    k.identity("op", "operator")
    rev = k.identity("revoked", "bidder")
    rpkg = k.seal("revoked", t["id"])
    k.client("op").call(
        "POST", "/admin/revocations", {"fingerprint": rev.certificate.fingerprint.hex(), "reason": "key lost"}
    )
    _expect(k, lambda: k.client("revoked").submit(t["id"], rpkg), 401, "certificate-revoked")


def _raise(res: tuple[int, dict[str, str], bytes]) -> None:
    status, _h, data = res
    if status >= 400:
        raise ApiError(status, orjson.loads(data))


def test_replayed_request(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    pkg = k.seal("b2", t["id"])
    b2 = k.ids["b2"]
    path = f"/tenders/{t['id']}/bids"
    h = sign_headers(b2.key, b2.certificate, "POST", path, body_sm3=pkg.body_sm3())
    c = k.client()
    _raise(c.raw("POST", path, pkg.chunks(), length=pkg.length(), headers=h, sign=False))
    _expect(k, lambda: _raise(c.raw("POST", path, pkg.chunks(), length=pkg.length(), headers=h, sign=False)), 401,
            "replayed-request")  # fmt: skip


def test_request_signature_skew_and_body_digest(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    pkg = k.seal("b2", t["id"])
    b2 = k.ids["b2"]
    path = f"/tenders/{t['id']}/bids"
    c = k.client()
    h = sign_headers(b2.key, b2.certificate, "POST", path, body_sm3=pkg.body_sm3())
    h["Bk-Nonce"] = os.urandom(16).hex()  # not what was signed
    _expect(k, lambda: _raise(c.raw("POST", path, pkg.chunks(), length=pkg.length(), headers=h, sign=False)), 401,
            "bad-request-signature")  # fmt: skip
    stale = int((time.time() - 3600) * 1000)
    h = sign_headers(b2.key, b2.certificate, "POST", path, body_sm3=pkg.body_sm3(), t_ms=stale)
    _expect(k, lambda: _raise(c.raw("POST", path, pkg.chunks(), length=pkg.length(), headers=h, sign=False)), 401,
            "request-expired")  # fmt: skip
    h = sign_headers(b2.key, b2.certificate, "POST", path, body_sm3=sm3(b"something else").hex())
    _expect(k, lambda: _raise(c.raw("POST", path, pkg.chunks(), length=pkg.length(), headers=h, sign=False)), 400,
            "body-digest-mismatch")  # fmt: skip


def test_truncated_upload(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    pkg = k.seal("b2", t["id"], size=300_000)
    b2 = k.ids["b2"]
    path = f"/tenders/{t['id']}/bids"
    before = _trace(k)
    h = sign_headers(b2.key, b2.certificate, "POST", path, body_sm3=pkg.body_sm3())
    body = b"".join(pkg.chunks())
    _host, port = k.url.rsplit(":", 1)
    s = socket.create_connection(("127.0.0.1", int(port)))
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{a}: {b}\r\n" for a, b in h.items()) + "\r\n"
    s.sendall(head.encode() + body[: len(body) // 2])
    time.sleep(0.3)
    s.close()  # the bidder's line drops mid-upload
    time.sleep(0.5)
    assert _trace(k) == before
    # the same package, sent completely afterwards, is accepted
    r = k.client("b2").submit(t["id"], pkg)
    assert r["body"]["kind"] == "bid.received"


def test_malformed_package(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    c = k.client("b2")
    _expect(k, lambda: _raise(c.raw("POST", f"/tenders/{t['id']}/bids", b"GIF89a not a package at all")), 400,
            "malformed-package")  # fmt: skip
    m = orjson.dumps({"format": "bidkernel/bid-package/v1", "tender_id": t["id"], "lot": "1", "envelopes": [
        {"name": "technical", "sm3": "00" * 32, "size": 10, "signature": ""}]})  # fmt: skip
    head = MAGIC + struct.pack(">I", len(m)) + m
    body = head + b"x" * 10
    # Bk-Content-SM3 of a package is the SM3 of its head (the manifest binds the envelopes)
    _expect(k, lambda: _raise(c.raw("POST", f"/tenders/{t['id']}/bids", body, body_sm3=sm3(head).hex())), 422,
            "missing-summary")  # fmt: skip


def _past_the_deadline(k: Kernel, t: dict[str, Any]) -> None:
    k.time.offset += 601
    for _ in range(200):  # the tender is sealed at its deadline (a legitimate leaf), before we snapshot
        try:
            k.client().call("GET", f"/tenders/{t['id']}/closing")
            break
        except ApiError:
            time.sleep(0.05)


def test_after_the_deadline(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    pkg = k.seal("b2", t["id"])
    _past_the_deadline(k, t)
    _expect(k, lambda: k.client("b2").submit(t["id"], pkg), 409, "deadline-passed")


def test_wrong_role_and_disclosure_before_deadline(setup: tuple[Kernel, dict[str, Any]]) -> None:
    k, t = setup
    tid = t["id"]
    b1_bid = k.client("b1").call("GET", f"/tenders/{tid}/bids")[0]["id"]
    k.identity("b2", "bidder")
    # a bidder reading another's bid: indistinguishable from a bid that does not exist
    _expect(k, lambda: k.client("b2").call("GET", f"/bids/{b1_bid}"), 404, "not-found")
    _expect(k, lambda: k.client("b2").call("GET", f"/bids/{b1_bid}/receipt"), 404, "not-found")
    _expect(k, lambda: k.client("b2").call("POST", f"/bids/{b1_bid}/withdraw"), 404, "not-found")
    assert k.client("b2").call("GET", f"/tenders/{tid}/bids") == []
    # nobody learns names or the count before the deadline: not the public, not the agency
    _expect(k, lambda: k.client().call("GET", f"/tenders/{tid}/bids"), 401, "unauthenticated")
    _expect(k, lambda: k.client("agency-a").call("GET", f"/tenders/{tid}/bids"), 403, "forbidden")
    _expect(k, lambda: k.client("agency-a").call("GET", f"/bids/{b1_bid}"), 404, "not-found")
    _expect(k, lambda: k.client().call("GET", f"/tenders/{tid}/closing"), 409, "tender-state")
    for who in (None, "agency-a", "b2"):
        text = orjson.dumps([k.client(who).call("GET", f"/tenders/{tid}"), k.client(who).call("GET", "/tenders")])
        # quoted: the bare bytes b1 occur by chance in the base64 of the opening certificate's PEM
        fp = k.ids["b1"].certificate.fingerprint.hex().encode()
        assert b'"b1"' not in text and fp not in text and b"bidder" not in text and b"count" not in text
    proof = k.client().call("GET", "/ledger/proof/inclusion?index=1")
    assert "leaf" not in proof  # leaves name bidders: not served to the public
    # a bidder cannot create or publish tenders; an agency cannot bid
    _expect(k, lambda: k.client("b2").call("POST", "/tenders", {"title": "x"}), 403, "forbidden")
    _expect(k, lambda: k.client("agency-a").submit(tid, k.seal("b2", tid)), 403, "forbidden")


def test_oversized(tmp_path: Path) -> None:
    k = start_kernel(tmp_path, limits=Limits(max_envelope_bytes=64 * 1024, max_envelopes=3))
    try:
        t = k.tender(seconds=600)
        pkg = k.seal("b2", t["id"], size=200_000)
        _expect(k, lambda: k.client("b2").submit(t["id"], pkg), 413, "payload-too-large")
        # a Content-Length beyond the package limit is refused before any byte is read
        b2 = k.ids["b2"]
        path = f"/tenders/{t['id']}/bids"
        h = sign_headers(b2.key, b2.certificate, "POST", path, body_sm3=pkg.body_sm3())
        h["Content-Length"] = str(10**12)
        before = _trace(k)
        # no body: had the server waited to read one, this would hang or end as truncated-upload
        status, hh, data = k.client().raw("POST", path, None, headers=h, sign=False)
        assert (status, hh["content-type"]) == (413, "application/problem+json"), data
        assert orjson.loads(data)["type"] == "https://bidkernel.dev/problems/payload-too-large"
        assert _trace(k) == before
        # too many envelopes
        from bidkernel.client import seal_package

        (tmp_path / "s.json").write_text("{}")
        files = []
        for i in range(4):
            (tmp_path / f"f{i}").write_bytes(b"x" * 100)
            files.append((f"doc{i}", tmp_path / f"f{i}"))
        seal_package(tmp_path / "many", tender_id=t["id"], lot="1", opening_certificates=[k.opening_cert().certificate],
                     summary=tmp_path / "s.json", files=files, key=b2.key, cert=b2.certificate)  # fmt: skip
        _expect(k, lambda: k.client("b2").submit(t["id"], Package.load(tmp_path / "many")), 422, "too-many-envelopes")
    finally:
        k.stop()


def test_late_upload_gets_its_answer_not_a_reset(setup: tuple[Kernel, dict[str, Any]]) -> None:
    """A late bidder sending many MiB on a `Connection: close` request reads 409 deadline-passed. The kernel
    refuses before reading the body; closing with the body unread made the TCP stack send a reset, and a
    client that writes the whole body before reading (http.client here) saw "connection reset" instead."""
    k, t = setup
    _past_the_deadline(k, t)
    # 16 MiB: more than the loopback socket buffers take, so most of it is still unsent when the kernel answers
    body = os.urandom(16 << 20)
    close = {"Connection": "close"}  # keep-alive connections were always drained by the HTTP server itself
    for _ in range(3):
        _expect(k, lambda: _raise(k.client("b2").raw("POST", f"/tenders/{t['id']}/bids", body, headers=close)), 409,
                "deadline-passed")  # fmt: skip


def test_late_upload_expecting_100_continue_is_refused_before_its_body(setup: tuple[Kernel, dict[str, Any]]) -> None:
    """curl sends `Expect: 100-continue` above 1 MiB and waits: the refusal comes first, no body is asked for."""
    k, t = setup
    _past_the_deadline(k, t)
    c, b2 = k.client("b2"), k.ids["b2"]
    path = f"/tenders/{t['id']}/bids"
    t_ms = c.now_ms() if c.now_ms is not None else None
    h = sign_headers(b2.key, b2.certificate, "POST", path, body_sm3=sm3(b"x").hex(), t_ms=t_ms)
    _host, port = k.url.rsplit(":", 1)
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {16 << 20}\r\nExpect: 100-continue\r\n"
        head += "Connection: close\r\n" + "".join(f"{a}: {b}\r\n" for a, b in h.items()) + "\r\n"
        s.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            got = s.recv(65536)
            assert got, data
            data += got
    assert data.startswith(b"HTTP/1.1 409"), data[:200]
