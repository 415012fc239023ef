"""Feldman VSS over SM2 and the native multi-scalar multiplication, against a Python big-int reference
of the curve (GB/T 32918.1 affine formulas) and gmssl's point arithmetic."""

from __future__ import annotations

import secrets

import pytest

from bidkernel import _native
from bidkernel.crypto import sm2
from bidkernel.custody import vss

A = vss.P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93


def _add(p1: tuple[int, int] | None, p2: tuple[int, int] | None) -> tuple[int, int] | None:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % vss.P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, vss.P) % vss.P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, vss.P) % vss.P
    x3 = (lam * lam - x1 - x2) % vss.P
    return x3, (lam * (x1 - x3) - y1) % vss.P


def _mul(k: int, pt: tuple[int, int] | None) -> tuple[int, int] | None:
    acc = None
    while k:
        if k & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        k >>= 1
    return acc


def _enc(pt: tuple[int, int] | None) -> bytes | None:
    return None if pt is None else b"\x04" + pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")


def _dec(b: bytes) -> tuple[int, int]:
    return int.from_bytes(b[1:33], "big"), int.from_bytes(b[33:], "big")


G = (vss.GX, vss.GY)


def test_generator_is_on_the_curve() -> None:
    assert (vss.GY**2 - vss.GX**3 - A * vss.GX - B) % vss.P == 0
    assert sm2.PrivateKey.from_scalar_bytes((1).to_bytes(32, "big")).public_key() == vss.G


def test_native_msm_matches_the_big_int_reference() -> None:
    for n in (1, 2, 3, 5):
        pts = [_mul(1 + secrets.randbelow(vss.N - 1), G) for _ in range(n)]
        ks = [secrets.randbelow(vss.N) for _ in range(n)]
        want = None
        for k, p in zip(ks, pts, strict=True):
            want = _add(want, _mul(k, p))
        got = _native.sm2_multi_scalar_mul([_enc(p) for p in pts], [k.to_bytes(32, "big") for k in ks])  # type: ignore[misc]
        assert got == _enc(want)
    # P + (-P) is the point at infinity
    p = _mul(12345, G)
    assert p is not None
    pe = _enc(p)
    assert pe is not None
    assert _native.sm2_multi_scalar_mul([pe, pe], [(1).to_bytes(32, "big"), (vss.N - 1).to_bytes(32, "big")]) is None
    with pytest.raises(ValueError):
        _native.sm2_multi_scalar_mul([b"\x04" + b"\x01" * 64], [(1).to_bytes(32, "big")])
    with pytest.raises(ValueError):
        _native.sm2_multi_scalar_mul([vss.G], [b"short"])


def test_native_msm_matches_gmssl_point_ops() -> None:
    gm = pytest.importorskip("gmssl.sm2")
    c = gm.CryptSM2(private_key="00" * 32, public_key="00" * 64)
    for _ in range(5):
        k1, k2 = secrets.randbelow(vss.N), secrets.randbelow(vss.N)
        p = _mul(1 + secrets.randbelow(vss.N - 1), G)
        assert p is not None
        pj = f"{p[0]:064x}{p[1]:064x}"
        gj = f"{vss.GX:064x}{vss.GY:064x}"
        theirs = c._convert_jacb_to_nor(c._add_point(c._kg(k1, gj), c._kg(k2, pj)))
        ours = _native.sm2_multi_scalar_mul([vss.G, _enc(p)], [k1.to_bytes(32, "big"), k2.to_bytes(32, "big")])  # type: ignore[list-item]
        assert ours is not None and ours[1:].hex() == theirs


@pytest.mark.parametrize(("k", "n"), [(2, 3), (3, 5), (5, 5)])
def test_split_verify_combine(k: int, n: int) -> None:
    d = 1 + secrets.randbelow(vss.N - 2)
    shares, commitments = vss.split(d, k, n)
    assert commitments[0] == vss.base_mul(d)
    assert all(vss.verify_share(i, s, commitments) for i, s in enumerate(shares, start=1))
    # any k shares rebuild d; k-1 shares give something else
    pick = dict(list(enumerate(shares, start=1))[n - k :])
    assert vss.combine(pick) == d
    fewer = dict(list(pick.items())[1:])
    assert vss.combine(fewer) != d
    # a tampered share (or a share under another index) fails Feldman's check
    assert not vss.verify_share(1, (shares[0] + 1) % vss.N, commitments)
    assert not vss.verify_share(2, shares[0], commitments)
    assert not vss.verify_share(1, 0, commitments)
