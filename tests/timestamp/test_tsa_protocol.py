"""RFC 3161 §2.4 / §3.4 behaviour of POST /tsa: every bad request answered with a proper TimeStampResp
(status rejection + failInfo), problem+json only for a wrong content type; nonce echoed, certReq honoured."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import orjson
import pytest
from ts_pki import Issued
from ts_support import ManualTime, build_authority

from bidkernel.api.app import create_app
from bidkernel.timestamp import Digest, TimeStampAuthority, TimestampError, TrustedClock, der, make_request
from bidkernel.timestamp.verify import parse_reply


def post(url: str, body: bytes, ctype: str | None = "application/timestamp-query") -> tuple[int, str, bytes]:
    headers = {"Content-Type": ctype} if ctype else {}
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


GOOD = make_request(Digest("sha256", bytes(range(32))), nonce=1)


def _req_fields(*fields: bytes) -> bytes:
    return der.seq(*fields)


SHA256 = "2.16.840.1.101.3.4.2.1"


def _imprint(alg: str, size: int, params: bytes = b"") -> bytes:
    return der.seq(der.seq(der.oid(alg), params), der.octet_string(bytes(size)))


IMPRINT = der.seq(der.algorithm("2.16.840.1.101.3.4.2.1", null_params=True), der.octet_string(bytes(32)))
CASES = {
    "not DER": (b"\x30\x03\x02", "badDataFormat"),
    "empty": (b"", "badDataFormat"),
    "trailing byte": (GOOD + b"\x00", "badDataFormat"),
    "version 2": (_req_fields(der.integer(2), IMPRINT), "badRequest"),
    "sha1": (
        _req_fields(der.integer(1), der.seq(der.algorithm("1.3.14.3.2.26"), der.octet_string(bytes(20)))),
        "badAlg",
    ),
    "md5": (
        _req_fields(der.integer(1), der.seq(der.algorithm("1.2.840.113549.2.5"), der.octet_string(bytes(16)))),
        "badAlg",
    ),
    "bad params": (
        _req_fields(
            der.integer(1),
            der.seq(der.seq(der.oid("2.16.840.1.101.3.4.2.1"), der.integer(0)), der.octet_string(bytes(32))),
        ),
        "badAlg",
    ),
    "short digest": (
        _req_fields(der.integer(1), der.seq(der.algorithm("2.16.840.1.101.3.4.2.1"), der.octet_string(bytes(31)))),
        "badDataFormat",
    ),
    "unknown policy": (make_request(Digest("sha256", bytes(32)), nonce=1, policy="1.2.3.9"), "unacceptedPolicy"),
    "extension": (
        _req_fields(
            der.integer(1),
            IMPRINT,
            der.tlv(0xA0, der.seq(der.oid("1.2.3.4.99"), der.octet_string(b"x"))),  # [0] IMPLICIT Extensions
        ),
        "unacceptedExtension",
    ),
    "too large": (b"\x30\x82\x50\x00" + bytes(0x5000), "badDataFormat"),
}


@pytest.fixture
def url(authority: TimeStampAuthority, server):
    with server(create_app(tsa=authority)) as base:
        yield base + "/tsa"


@pytest.mark.parametrize("case", list(CASES))
def test_bad_requests_get_rejection_with_failinfo(case: str, url: str) -> None:
    body, fail = CASES[case]
    status, ctype, reply = post(url, body)
    assert status == 200 and ctype == "application/timestamp-reply"
    rep = parse_reply(reply)
    assert rep.status == 2 and rep.fail_info == (fail,) and rep.token is None
    assert rep.status_text and all(len(t) < 100 for t in rep.status_text)


@pytest.mark.parametrize("ctype", ["application/octet-stream", None, "text/plain"])
def test_wrong_content_type_is_problem_json(ctype: str | None, url: str) -> None:
    status, rtype, body = post(url, GOOD, ctype)
    assert status == 415 and rtype == "application/problem+json"
    doc = orjson.loads(body)
    assert doc["type"] == "https://bidkernel.dev/problems/tsa-content-type" and doc["status"] == 415


def test_get_is_not_allowed(url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=5)
    assert e.value.code == 405 and e.value.headers["Allow"] == "POST"
    assert e.value.headers["Content-Type"] == "application/problem+json"
    assert orjson.loads(e.value.read())["type"] == "https://bidkernel.dev/problems/method-not-allowed"


def test_nonce_echoed_cert_req_honoured_policy_chosen(authority: TimeStampAuthority, url: str) -> None:
    from bidkernel.timestamp.verify import _parse_token, summarize_tstinfo

    big_nonce = 2**160 + 12345
    for cert_req in (True, False):
        req = make_request(Digest("sha384", bytes(48)), nonce=big_nonce, cert_req=cert_req, policy="1.2.3.4.5")
        _, _, reply = post(url, req)
        rep = parse_reply(reply)
        assert rep.status == 0 and rep.token is not None
        tok = _parse_token(rep.token)
        assert len(tok.certs) == (1 if cert_req else 0)
        info = summarize_tstinfo(tok.tst_der)
        assert info.nonce == big_nonce and info.policy == "1.2.3.4.5" and info.hash_algorithm == "sha384"
        assert info.accuracy is not None and 0.051 <= info.accuracy < 0.06  # 50 ms clock + 1 ms precision + drift


def test_time_not_available_when_clock_untrusted(tsa_cert: Issued, tmp_path: Path, server) -> None:
    t = ManualTime(1_800_000_000.0)
    clock = TrustedClock(system=t.system, monotonic=t.monotonic)
    auth = build_authority(tsa_cert, tmp_path / "s", clock=clock)
    t.step_system(-300)
    with server(create_app(tsa=auth)) as base:
        _, _, reply = post(base + "/tsa", GOOD)
    rep = parse_reply(reply)
    assert rep.status == 2 and rep.fail_info == ("timeNotAvailable",)
    with pytest.raises(TimestampError) as e:
        auth.stamp(b"receipt")
    assert e.value.code == "timestamp.refused.timeNotAvailable"


def test_repr_and_errors_carry_no_key_material(authority: TimeStampAuthority, tsa_cert: Issued) -> None:
    from cryptography.hazmat.primitives import serialization

    priv = tsa_cert.key.private_numbers().private_value
    texts = [repr(authority), repr(authority.signer), str(authority.__dict__)]
    pem = tsa_cert.key_pem.decode()
    body = "".join(pem.splitlines()[1:-1])
    raw = tsa_cert.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for t in texts:
        assert f"{priv:x}" not in t.lower() and body[:40] not in t and raw.hex()[-40:] not in t


def test_serial_store_failure_is_system_failure_and_nothing_issued(tsa_cert: Issued, tmp_path: Path) -> None:
    from bidkernel.timestamp.serials import SqliteSerialCounter

    serials = SqliteSerialCounter(tmp_path / "s.sqlite", block=1)
    auth = build_authority(tsa_cert, tmp_path / "unused.sqlite")
    auth.serials = serials
    assert parse_reply(auth.respond(GOOD)).status == 0
    serials._counter._db.close()  # the store goes away under the TSA
    rep = parse_reply(auth.respond(GOOD))
    assert rep.status == 2 and rep.fail_info == ("systemFailure",) and rep.token is None
