"""Time-stamp tokens per second on one core, next to the bare signature they are built on, measured in the
same run (issue 6). Each token is a full RFC 3161 TimeStampToken: clock read, serial, TSTInfo, signed
attributes with ESSCertIDv2, the signature, the CMS SignedData.

Run: python -m pytest benchmarks/test_bench_tsa.py --benchmark-enable --benchmark-columns=min,median,ops
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "timestamp"))

from ts_pki import make_ca, make_sm2_pki, make_tsa

from bidkernel.crypto import sm2
from bidkernel.timestamp import TimeStampAuthority, Trust, TrustedClock, verify_token
from bidkernel.timestamp.serials import SqliteSerialCounter
from bidkernel.timestamp.signers import ECDSA_P256_SHA256, SM2_SM3, load_signer

MSG = b"\x5a" * 200  # about the size of the signed attributes of a token


@pytest.fixture(scope="module")
def ecdsa(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("bench-ecdsa")
    ca = make_ca(d)
    tsa = make_tsa(d, ca)
    auth = TimeStampAuthority(
        signer=load_signer(ECDSA_P256_SHA256, tsa.key_pem),
        certificate=tsa.cert,
        policy="1.2.3.4.1",
        serials=SqliteSerialCounter(d / "serial.sqlite"),
        clock=TrustedClock(),
    )
    return auth, tsa, Trust([ca.cert])


@pytest.fixture(scope="module")
def sm2_tsa(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("bench-sm2")
    p = make_sm2_pki(d)
    ca, cert = p.load()
    auth = TimeStampAuthority(
        signer=load_signer(SM2_SM3, p.tsa_key.read_bytes()),
        certificate=cert,
        policy="1.2.3.4.1",
        serials=SqliteSerialCounter(d / "serial.sqlite"),
        clock=TrustedClock(),
    )
    return auth, sm2.load_private_key(p.tsa_key.read_bytes()), Trust([ca])


def test_ecdsa_p256_bare_sign(benchmark: Any, ecdsa: Any) -> None:
    benchmark.group = "tsa ecdsa-p256-sha256"
    key = ecdsa[1].key
    sig = benchmark(key.sign, MSG, ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(sig, MSG, ec.ECDSA(hashes.SHA256()))


def test_ecdsa_p256_token(benchmark: Any, ecdsa: Any) -> None:
    benchmark.group = "tsa ecdsa-p256-sha256"
    auth, _, trust = ecdsa
    token = benchmark(auth.stamp, b"receipt")
    assert verify_token(token, b"receipt", trust).hash_algorithm == "sha256"


def test_ecdsa_p256_token_verify(benchmark: Any, ecdsa: Any) -> None:
    benchmark.group = "tsa ecdsa-p256-sha256"
    auth, _, trust = ecdsa
    token = auth.stamp(b"receipt")
    assert benchmark(verify_token, token, b"receipt", trust).policy == "1.2.3.4.1"


def test_sm2_bare_sign(benchmark: Any, sm2_tsa: Any) -> None:
    benchmark.group = "tsa sm2-sm3"
    key = sm2_tsa[1]
    sig = benchmark(sm2.sign, key, MSG)
    assert sm2.verify(key.public_key(), MSG, sig)


def test_sm2_token(benchmark: Any, sm2_tsa: Any) -> None:
    benchmark.group = "tsa sm2-sm3"
    auth, _, trust = sm2_tsa
    token = benchmark(auth.stamp, b"receipt")
    assert verify_token(token, b"receipt", trust).hash_algorithm == "sm3"


def test_sm2_token_verify(benchmark: Any, sm2_tsa: Any) -> None:
    benchmark.group = "tsa sm2-sm3"
    auth, _, trust = sm2_tsa
    token = auth.stamp(b"receipt")
    assert benchmark(verify_token, token, b"receipt", trust).policy == "1.2.3.4.1"
