#!/usr/bin/env python3
"""Finds the affine structure of the SM4 S-box.

Searches every circulant 8x8 bit matrix A (row i = output bit i, a rotation of one byte) and every
constant C for S(x) = A * inv_F(A * x + C) + C over F = GF(2)[t]/(t^8+t^7+t^6+t^5+t^4+t^2+1), against
the GB/T 32907 table as written in native/src/simd/sm4_sbox.rs. Prints each (first row, direction,
C, rows) that fits. The Rust code hard-codes the result and re-checks it over all 256 inputs in
`cargo test`.
"""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "native/src/simd/sm4_sbox.rs"
SM4_POLY = 0x1F5


def table() -> list[int]:
    text = SRC.read_text().split("SBOX_TABLE: [u8; 256] = [")[1].split("];")[0]
    sbox = [int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", text)]
    assert len(sbox) == 256
    return sbox


def gmul(a: int, b: int, poly: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= poly
    return r


def ginv(x: int, poly: int) -> int:
    return 0 if x == 0 else next(y for y in range(1, 256) if gmul(x, y, poly) == 1)


def apply(rows: list[int], x: int) -> int:
    return sum((bin(rows[i] & x).count("1") & 1) << i for i in range(8))


def rotl8(v: int, n: int) -> int:
    return ((v << n) | (v >> (8 - n))) & 0xFF


def main() -> None:
    sbox = table()
    inv = [ginv(x, SM4_POLY) for x in range(256)]
    found = []
    for r0 in range(256):
        for direction in (0, 1):
            rows = [rotl8(r0, i if direction == 0 else (8 - i) % 8) for i in range(8)]
            for c in range(256):
                if all(apply(rows, inv[apply(rows, x) ^ c]) ^ c == sbox[x] for x in range(256)):
                    found.append((hex(r0), direction, hex(c), [hex(r) for r in rows]))
    print(found)


if __name__ == "__main__":
    main()
