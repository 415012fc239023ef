"""Our verifier refuses what it must (issue 6): wrong imprint, wrong nonce, untrusted or expired TSA
certificate, genTime outside the certificate's validity, and any altered byte, for tokens from our TSA
and from an OpenSSL TSA."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from ts_pki import Issued, make_ca, make_tsa, openssl, openssl_ts_config
from ts_support import POLICY, ManualTime, build_authority

from bidkernel.timestamp import (
    ConfigError,
    Digest,
    TimeStampAuthority,
    Trust,
    TrustedClock,
    VerificationError,
    make_request,
    verify_token,
)
from bidkernel.timestamp.verify import parse_reply

DATA = b"closing checkpoint root"


def _code(exc: pytest.ExceptionInfo[VerificationError]) -> str:
    return exc.value.code.rsplit(".", 1)[-1]


def test_accepts_then_wrong_imprint_and_nonce(authority: TimeStampAuthority, ca: Issued) -> None:
    token = authority.stamp(DATA, nonce=12345)
    trust = Trust([ca.cert])
    info = verify_token(token, DATA, trust, nonce=12345, policy=POLICY)
    assert info.nonce == 12345 and info.policy == POLICY
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA + b"!", trust)
    assert _code(e) == "imprint_mismatch"
    sha = Digest("sha256", bytes(32))
    with pytest.raises(VerificationError) as e:
        verify_token(token, sha, trust)
    assert _code(e) == "imprint_mismatch"
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, trust, nonce=12346)
    assert _code(e) == "nonce_mismatch"
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, trust, policy="1.2.3.4.5")
    assert _code(e) == "policy_mismatch"


def test_untrusted_tsa_certificate(authority: TimeStampAuthority, tmp_path: Path) -> None:
    other_ca = make_ca(tmp_path, "Other Root")
    token = authority.stamp(DATA)
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, Trust([other_ca.cert]))
    assert _code(e) == "untrusted_certificate"


def test_token_without_certificate_needs_it_given(authority: TimeStampAuthority, ca: Issued, tsa_cert: Issued) -> None:
    token = authority.stamp(DATA, cert_req=False)
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, Trust([ca.cert]))
    assert _code(e) == "untrusted_certificate"
    assert verify_token(token, DATA, Trust([ca.cert], [tsa_cert.cert])).message_imprint


def test_expired_tsa_certificate(ca: Issued, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old = make_tsa(tmp_path, ca, "Old TSA", not_before=now - timedelta(days=10), not_after=now - timedelta(days=1))
    t = ManualTime((now - timedelta(days=5)).timestamp())  # the TSA ran while its certificate was valid
    auth = build_authority(old, tmp_path / "s", clock=TrustedClock(system=t.system, monotonic=t.monotonic))
    token = auth.stamp(DATA)
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, Trust([ca.cert]))
    assert _code(e) == "certificate_expired"
    # validated at genTime (long-term archive use) it is fine: the failure above was the expiry alone
    info = verify_token(token, DATA, Trust([ca.cert], at=now - timedelta(days=5)))
    assert abs(info.gen_time.timestamp() - t.wall) < 0.01


@pytest.mark.parametrize("offset", [-2 * 3600, 400 * 86400])
def test_gentime_outside_certificate_validity(offset: int, ca: Issued, tsa_cert: Issued, tmp_path: Path) -> None:
    t = ManualTime(datetime.now(UTC).timestamp() + offset)
    auth = build_authority(tsa_cert, tmp_path / "s", clock=TrustedClock(system=t.system, monotonic=t.monotonic))
    token = auth.stamp(DATA)
    with pytest.raises(VerificationError) as e:
        verify_token(token, DATA, Trust([ca.cert]))
    assert _code(e) == "gentime_outside_validity"


def test_tsa_refuses_certificate_without_critical_timestamping_eku(ca: Issued, tmp_path: Path) -> None:
    for kw in ({"eku_critical": False}, {"eku": [ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING]}):
        bad = make_tsa(tmp_path, ca, "Bad TSA", **kw)
        with pytest.raises(ConfigError):
            build_authority(bad, tmp_path / "s")


def test_tsa_refuses_key_not_matching_certificate(ca: Issued, tsa_cert: Issued, tmp_path: Path) -> None:
    other = make_tsa(tmp_path, ca, "Other TSA")
    from bidkernel.timestamp.serials import SqliteSerialCounter
    from bidkernel.timestamp.signers import ECDSA_P256_SHA256, load_signer

    with pytest.raises(ConfigError, match="does not match"):
        TimeStampAuthority(
            signer=load_signer(ECDSA_P256_SHA256, other.key_pem),
            certificate=tsa_cert.cert,
            policy=POLICY,
            serials=SqliteSerialCounter(tmp_path / "s"),
            clock=TrustedClock(),
        )


def _mutations(token: bytes, seed: int) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    out = []
    for pos in range(len(token)):
        flip = rng.randrange(1, 256)
        mutated = bytearray(token)
        mutated[pos] ^= flip
        out.append((pos, bytes(mutated)))
    return out


def _accepts(token: bytes, data: bytes, trust: Trust, nonce: int | None) -> bool:
    try:
        verify_token(token, data, trust, nonce=nonce)
    except VerificationError:
        return False
    return True


def test_every_altered_byte_of_our_token_is_rejected(authority: TimeStampAuthority, ca: Issued) -> None:
    trust = Trust([ca.cert])
    token = authority.stamp(DATA, nonce=99)
    assert _accepts(token, DATA, trust, 99)
    accepted = [pos for pos, m in _mutations(token, seed=6) if _accepts(m, DATA, trust, 99)]
    assert accepted == [], f"altered tokens accepted at byte positions {accepted} of {len(token)}"


def test_every_altered_byte_of_an_openssl_token_is_rejected(ca: Issued, tsa_cert: Issued, tmp_path: Path) -> None:
    cnf = openssl_ts_config(tmp_path, tsa_cert, ca, ess_alg="sha256")
    (tmp_path / "d").write_bytes(DATA)
    q, t = tmp_path / "q", tmp_path / "t"
    openssl("ts", "-query", "-data", str(tmp_path / "d"), "-sha256", "-cert", "-out", str(q))
    openssl("ts", "-reply", "-config", str(cnf), "-queryfile", str(q), "-token_out", "-out", str(t))
    from bidkernel.timestamp import parse_request

    nonce = parse_request(q.read_bytes()).nonce
    token = t.read_bytes()
    trust = Trust([ca.cert])
    assert _accepts(token, DATA, trust, nonce)
    accepted = [pos for pos, m in _mutations(token, seed=7) if _accepts(m, DATA, trust, nonce)]
    assert accepted == [], f"altered tokens accepted at byte positions {accepted} of {len(token)}"


def test_truncated_and_extended_tokens_are_rejected(authority: TimeStampAuthority, ca: Issued) -> None:
    token = authority.stamp(DATA)
    trust = Trust([ca.cert])
    for bad in (token[:-1], token + b"\x00", b"", token[:10]):
        with pytest.raises(VerificationError) as e:
            verify_token(bad, DATA, trust)
        assert _code(e) == "malformed"


def test_reply_for_a_request_from_make_request(authority: TimeStampAuthority, ca: Issued) -> None:
    from bidkernel.timestamp import verify_against_request

    req = make_request(Digest("sha256", bytes(range(32))), nonce=7, policy="1.2.3.4.5")
    info = verify_against_request(authority.respond(req), req, Trust([ca.cert]))
    assert info.policy == "1.2.3.4.5" and info.nonce == 7
    assert parse_reply(authority.respond(req)).status == 0
