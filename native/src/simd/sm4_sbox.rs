//! The SM4 S-box as an affine-inversion-affine composition, derived at compile time.
//!
//! GB/T 32907 gives the S-box as a table. Its algebraic structure (our own derivation, checked
//! exhaustively in the tests below) is
//!
//! ```text
//! S(x) = A · inv_F(A · x ⊕ C) ⊕ C        F = GF(2)[t] / (t^8 + t^7 + t^6 + t^5 + t^4 + t^2 + 1)
//! ```
//!
//! with `A` the 8×8 bit matrix whose row `i` (output bit `i`) is `0xA7` rotated left by `i`,
//! `C = 0xD3`, and `inv_F(0) = 0`. The matrix and constant were found by searching all circulant
//! matrices and constants against the table (`benchmarks/simd/derive_sm4_sbox.py` repeats the
//! search) and are re-checked over all 256 inputs by `cargo test`.
//!
//! x86 GFNI inverts in the AES field `G = GF(2)[t] / (t^8 + t^4 + t^3 + t + 1)`. Both fields are
//! GF(2^8), so there is a field isomorphism `φ: F → G`, linear over GF(2): pick a root `β ∈ G` of
//! F's polynomial and send `t^j ↦ β^j`. Then `inv_F = φ⁻¹ ∘ inv_G ∘ φ` and
//!
//! ```text
//! S(x) = (A·φ⁻¹) · inv_G((φ·A) · x ⊕ φ(C)) ⊕ C
//! ```
//!
//! which is exactly one `gf2p8affineqb` (matrix `φ·A`, constant `φ(C)`) followed by one
//! `gf2p8affineinvqb` (matrix `A·φ⁻¹`, constant `C`). Both instructions run in constant time:
//! no table, no secret-dependent memory access.

// Only the x86 kernels consume these matrices; other targets compile them for the tests.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

/// An 8×8 matrix over GF(2): `m[i]` is row `i`, i.e. the mask of input bits that XOR into output bit `i`.
pub(crate) type BitMatrix = [u8; 8];

/// Row `i` of SM4's affine matrix `A` is `0xA7` rotated left by `i`.
pub(crate) const SM4_A: BitMatrix = {
    let mut m = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        m[i] = 0xA7u8.rotate_left(i as u32);
        i += 1;
    }
    m
};
/// SM4's affine constant `C`.
pub(crate) const SM4_C: u8 = 0xD3;
#[cfg(test)]
/// SM4's field polynomial without the `t^8` term: t^7+t^6+t^5+t^4+t^2+1.
pub(crate) const SM4_POLY_LOW: u8 = 0xF5;
/// The AES field polynomial without the `t^8` term: t^4+t^3+t+1.
pub(crate) const AES_POLY_LOW: u8 = 0x1B;

/// Multiplication in GF(2^8) modulo `t^8 + low` (compile-time helper; not used on data paths).
pub(crate) const fn gf_mul(mut a: u8, mut b: u8, low: u8) -> u8 {
    let mut r = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        b >>= 1;
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= low;
        }
    }
    r
}

/// `y = m · x`.
pub(crate) const fn mat_apply(m: &BitMatrix, x: u8) -> u8 {
    let mut y = 0u8;
    let mut i = 0;
    while i < 8 {
        y |= (((m[i] & x).count_ones() & 1) as u8) << i;
        i += 1;
    }
    y
}

/// `a · b` (apply `b` first).
pub(crate) const fn mat_mul(a: &BitMatrix, b: &BitMatrix) -> BitMatrix {
    let mut r = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        let mut j = 0;
        while j < 8 {
            if a[i] >> j & 1 != 0 {
                r[i] ^= b[j];
            }
            j += 1;
        }
        i += 1;
    }
    r
}

/// Inverse by Gauss-Jordan elimination; panics (at compile time) if `m` is singular.
pub(crate) const fn mat_inv(m: &BitMatrix) -> BitMatrix {
    let mut a = *m;
    let mut inv = [1u8, 2, 4, 8, 16, 32, 64, 128];
    let mut col = 0;
    while col < 8 {
        let mut piv = col;
        while piv < 8 && a[piv] >> col & 1 == 0 {
            piv += 1;
        }
        assert!(piv < 8, "singular matrix");
        let (t, u) = (a[piv], inv[piv]);
        a[piv] = a[col];
        inv[piv] = inv[col];
        a[col] = t;
        inv[col] = u;
        let mut r = 0;
        while r < 8 {
            if r != col && a[r] >> col & 1 != 0 {
                a[r] ^= a[col];
                inv[r] ^= inv[col];
            }
            r += 1;
        }
        col += 1;
    }
    inv
}

/// The smallest root in the AES field of SM4's field polynomial.
const fn find_beta() -> u8 {
    let mut b = 2u16;
    while b < 256 {
        let beta = b as u8;
        // Horner: t^8 + t^7 + t^6 + t^5 + t^4 + t^2 + 1 with coefficients 1,1,1,1,1,0,1,0,1.
        let coeffs = [1u8, 1, 1, 1, 1, 0, 1, 0, 1];
        let mut acc = 0u8;
        let mut k = 0;
        while k < 9 {
            acc = gf_mul(acc, beta, AES_POLY_LOW) ^ coeffs[k];
            k += 1;
        }
        if acc == 0 {
            return beta;
        }
        b += 1;
    }
    panic!("no root")
}

/// `φ`: column `j` is `β^j`.
pub(crate) const PHI: BitMatrix = {
    let beta = find_beta();
    let mut m = [0u8; 8];
    let mut p = 1u8;
    let mut j = 0;
    while j < 8 {
        let mut i = 0;
        while i < 8 {
            m[i] |= (p >> i & 1) << j;
            i += 1;
        }
        p = gf_mul(p, beta, AES_POLY_LOW);
        j += 1;
    }
    m
};

/// Pre-inversion affine map `φ·A`, constant `φ(C)`.
pub(crate) const PRE: BitMatrix = mat_mul(&PHI, &SM4_A);
pub(crate) const PRE_C: u8 = mat_apply(&PHI, SM4_C);
/// Post-inversion affine map `A·φ⁻¹`, constant `C`.
pub(crate) const POST: BitMatrix = mat_mul(&SM4_A, &mat_inv(&PHI));
pub(crate) const POST_C: u8 = SM4_C;

/// A matrix in the operand layout of `gf2p8affineqb`: output bit `i` takes the byte at
/// position `7 - i` of the 64-bit operand.
pub(crate) const fn gfni_matrix(m: &BitMatrix) -> u64 {
    let mut q = 0u64;
    let mut i = 0;
    while i < 8 {
        q |= (m[i] as u64) << (8 * (7 - i));
        i += 1;
    }
    q
}

pub(crate) const PRE_GFNI: u64 = gfni_matrix(&PRE);
pub(crate) const POST_GFNI: u64 = gfni_matrix(&POST);

// --- AES-NI form -------------------------------------------------------------------------
//
// `aesenclast(y, 0) = ShiftRows(SubBytes(y))` with `SubBytes(y) = M · inv_G(y) ⊕ 0x63`, M the AES
// affine matrix (row i = 0xF1 rotated left by i, FIPS 197 §5.1.1). Hence
// `S(x) = (A·φ⁻¹·M⁻¹) · (SubBytes(φA·x ⊕ φC) ⊕ 0x63) ⊕ C`. The two affine maps are evaluated with
// 4-bit `pshufb` lookups (a linear map splits over the low and high nibble), which index a
// register, not memory: constant time. ShiftRows is undone by one byte shuffle.

/// AES's affine matrix M.
pub(crate) const AES_M: BitMatrix = {
    let mut m = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        m[i] = 0xF1u8.rotate_left(i as u32);
        i += 1;
    }
    m
};
/// AES's affine constant.
pub(crate) const AES_C: u8 = 0x63;

/// Post map for the AES-NI form: `A·φ⁻¹·M⁻¹`, constant `(A·φ⁻¹·M⁻¹)·0x63 ⊕ C`.
pub(crate) const POST_AES: BitMatrix = mat_mul(&POST, &mat_inv(&AES_M));
pub(crate) const POST_AES_C: u8 = mat_apply(&POST_AES, AES_C) ^ SM4_C;

/// Nibble tables `(low, high)` of the affine map `m·x ⊕ c`: `m·x ⊕ c = low[x & 15] ⊕ high[x >> 4]`.
pub(crate) const fn nibble_tables(m: &BitMatrix, c: u8) -> ([u8; 16], [u8; 16]) {
    let mut lo = [0u8; 16];
    let mut hi = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        lo[n] = mat_apply(m, n as u8) ^ c;
        hi[n] = mat_apply(m, (n as u8) << 4);
        n += 1;
    }
    (lo, hi)
}

pub(crate) const PRE_NIB: ([u8; 16], [u8; 16]) = nibble_tables(&PRE, PRE_C);
pub(crate) const POST_AES_NIB: ([u8; 16], [u8; 16]) = nibble_tables(&POST_AES, POST_AES_C);

/// Byte shuffle that undoes AES ShiftRows: `t[r + 4c] = s[r + 4((c - r) mod 4)]`.
pub(crate) const INV_SHIFT_ROWS: [u8; 16] = {
    let mut p = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        let (r, c) = (i % 4, i / 4);
        p[i] = (r + 4 * ((c + 4 - r) % 4)) as u8;
        i += 1;
    }
    p
};

/// Scalar model of the AES-NI evaluation (test oracle): AES SubBytes from its definition.
#[cfg(test)]
pub(crate) fn sbox_via_aes_subbytes(x: u8) -> u8 {
    let inv = |y: u8| {
        if y == 0 {
            0
        } else {
            (1..=255u8)
                .find(|&z| gf_mul(y, z, AES_POLY_LOW) == 1)
                .unwrap()
        }
    };
    let sub_bytes = |y: u8| mat_apply(&AES_M, inv(y)) ^ AES_C;
    let y = PRE_NIB.0[(x & 15) as usize] ^ PRE_NIB.1[(x >> 4) as usize];
    let s = sub_bytes(y);
    POST_AES_NIB.0[(s & 15) as usize] ^ POST_AES_NIB.1[(s >> 4) as usize]
}

/// Scalar model of the GFNI evaluation (test oracle for the derivation): inversion in the AES
/// field by brute force. Not constant time; never used on data.
#[cfg(test)]
pub(crate) fn sbox_via_aes_field(x: u8) -> u8 {
    let y = mat_apply(&PRE, x) ^ PRE_C;
    let inv = if y == 0 {
        0
    } else {
        (1..=255u8)
            .find(|&z| gf_mul(y, z, AES_POLY_LOW) == 1)
            .unwrap()
    };
    mat_apply(&POST, inv) ^ POST_C
}

/// Scalar model of the structure in SM4's own field (test oracle).
#[cfg(test)]
pub(crate) fn sbox_via_sm4_field(x: u8) -> u8 {
    let y = mat_apply(&SM4_A, x) ^ SM4_C;
    let inv = if y == 0 {
        0
    } else {
        (1..=255u8)
            .find(|&z| gf_mul(y, z, SM4_POLY_LOW) == 1)
            .unwrap()
    };
    mat_apply(&SM4_A, inv) ^ SM4_C
}

/// The S-box table of GB/T 32907-2016 §6.2.1 (the tests' reference): the one copy in `sm4.rs`.
#[cfg(test)]
pub(crate) use crate::sm4::SBOX as SBOX_TABLE;

/// Constant-time S-box of the four bytes of `x`: every table entry is read for every byte and
/// selected with a mask, so the memory access pattern does not depend on `x`. A test oracle for
/// the SIMD key schedules.
#[cfg(test)]
pub(crate) fn sbox_word_ct(x: u32) -> u32 {
    let b = x.to_be_bytes();
    let mut out = [0u8; 4];
    for (i, &t) in SBOX_TABLE.iter().enumerate() {
        for k in 0..4 {
            // mask = 0xff iff i == b[k], computed without a branch.
            let d = (i as u8 ^ b[k]) as u32;
            let mask = (d.wrapping_sub(1) >> 8) as u8; // 0xff when d == 0, else 0x00
            out[k] |= t & mask;
        }
    }
    u32::from_be_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_in_sm4_field_matches_table_on_all_256_inputs() {
        for x in 0..=255u8 {
            assert_eq!(sbox_via_sm4_field(x), SBOX_TABLE[x as usize], "x={x:#04x}");
        }
    }

    #[test]
    fn isomorphic_aes_field_form_matches_table_on_all_256_inputs() {
        for x in 0..=255u8 {
            assert_eq!(sbox_via_aes_field(x), SBOX_TABLE[x as usize], "x={x:#04x}");
        }
    }

    #[test]
    fn aesni_form_matches_table_on_all_256_inputs() {
        // AES S-box sanity (FIPS 197 Figure 7): S(0x00) = 0x63, S(0x01) = 0x7c, S(0x53) = 0xed.
        let inv = |y: u8| {
            (1..=255u8)
                .find(|&z| gf_mul(y, z, AES_POLY_LOW) == 1)
                .unwrap()
        };
        assert_eq!(mat_apply(&AES_M, inv(0x01)) ^ AES_C, 0x7c);
        assert_eq!(mat_apply(&AES_M, inv(0x53)) ^ AES_C, 0xed);
        for x in 0..=255u8 {
            assert_eq!(
                sbox_via_aes_subbytes(x),
                SBOX_TABLE[x as usize],
                "x={x:#04x}"
            );
        }
    }

    #[test]
    fn phi_is_a_field_isomorphism() {
        for a in 0..=255u8 {
            for b in [1u8, 2, 3, 0x53, 0xca, 0xff, a] {
                assert_eq!(
                    mat_apply(&PHI, gf_mul(a, b, SM4_POLY_LOW)),
                    gf_mul(mat_apply(&PHI, a), mat_apply(&PHI, b), AES_POLY_LOW)
                );
            }
        }
        let inv = mat_inv(&PHI);
        for x in 0..=255u8 {
            assert_eq!(mat_apply(&inv, mat_apply(&PHI, x)), x);
        }
    }

    #[test]
    fn constant_time_scan_matches_table() {
        for x in 0..=255u32 {
            let w = x << 24 | (x ^ 0x5a) << 16 | (255 - x) << 8 | (x * 7) & 0xff;
            let want = u32::from_be_bytes(w.to_be_bytes().map(|b| SBOX_TABLE[b as usize]));
            assert_eq!(sbox_word_ct(w), want);
        }
    }
}
