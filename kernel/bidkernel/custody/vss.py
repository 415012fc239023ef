"""Feldman verifiable secret sharing over the SM2 group (GB/T 32918.1 curve, order n).

The dealer picks f(x) = d + a_1 x + ... + a_{k-1} x^{k-1} over Z_n with the secret d as f(0), gives
custodian i (1..N) the share s_i = f(i), and publishes the commitments C_j = [a_j]G (C_0 = [d]G is the
opening public key). Anyone checks a share against the commitments:  [s_i]G == Σ_j [i^j mod n] C_j
(Feldman 1987); any k valid shares give d back by Lagrange interpolation at 0.

Scalar arithmetic is on Python ints (mod n). [s]G for a secret s goes through the constant-time
SM2 key derivation; the right-hand sum only touches public points and goes through
``_native.sm2_multi_scalar_mul``. Python ints cannot be wiped: callers drop them as soon as possible.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from bidkernel import _native
from bidkernel.crypto import sm2

N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
G = b"\x04" + GX.to_bytes(32, "big") + GY.to_bytes(32, "big")


def _random_scalar() -> int:
    """Uniform in [1, n-2]: a valid SM2 private scalar (GB/T 32918.1 §6.1)."""
    return 1 + secrets.randbelow(N - 2)


def _b32(v: int) -> bytes:
    return v.to_bytes(32, "big")


def base_mul(s: int) -> bytes:
    """[s]G for a (possibly secret) scalar, constant time; ``ValueError`` outside [1, n-2]."""
    if not 1 <= s <= N - 2:
        raise ValueError("scalar out of range")
    return sm2.PrivateKey.from_scalar_bytes(_b32(s)).public_key()


def split(secret: int, k: int, n_shares: int) -> tuple[list[int], list[bytes]]:
    """Shares f(1..N) and commitments [a_j]G, j = 0..k-1, of ``secret`` (2 <= k <= N)."""
    if not 2 <= k <= n_shares or n_shares > 64:
        raise ValueError("need 2 <= k <= N <= 64")
    coeffs = [secret] + [_random_scalar() for _ in range(k - 1)]
    try:
        commitments = [base_mul(a) for a in coeffs]
        shares = [sum(a * pow(i, j, N) for j, a in enumerate(coeffs)) % N for i in range(1, n_shares + 1)]
    finally:
        coeffs.clear()
    return shares, commitments


def expected_point(index: int, commitments: Sequence[bytes]) -> bytes | None:
    """Σ_j [index^j] C_j: what [s_index]G must equal (public data only)."""
    return _native.sm2_multi_scalar_mul(list(commitments), [_b32(pow(index, j, N)) for j in range(len(commitments))])


def verify_share(index: int, share: int, commitments: Sequence[bytes]) -> bool:
    """Feldman's check of one share. False for anything out of range."""
    if not 1 <= index <= 64 or not 1 <= share <= N - 2:
        return False
    want = expected_point(index, commitments)
    return want is not None and secrets.compare_digest(base_mul(share), want)


def combine(shares: dict[int, int]) -> int:
    """Lagrange interpolation at 0 of ``{index: share}`` (exactly the k shares to use)."""
    secret = 0
    idx = list(shares)
    for i in idx:
        num, den = 1, 1
        for j in idx:
            if j != i:
                num = num * (-j) % N
                den = den * (i - j) % N
        secret = (secret + shares[i] * num * pow(den, -1, N)) % N
    return secret
