//! SM4 with AES-NI + SSSE3 (CPUs without GFNI: Zen 1-3, Hygon, Intel before Ice Lake).
//!
//! Four blocks per 128-bit register (word `k` of blocks 0..3 in `x_k` after a 4×4 transpose),
//! four register groups (16 blocks) per step. The S-box is `pshufb` nibble lookups for the
//! input affine map, `aesenclast` with a zero key for the inversion in the AES field, one
//! `pshufb` to undo ShiftRows and nibble lookups for the output affine map (derivation in
//! [`super::sm4_sbox`]). The lookups index registers, never memory: constant time.
//!
//! Every function here is `unsafe` and requires AES-NI and SSSE3 ([`available`]).

#![allow(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::sm4_sbox::{INV_SHIFT_ROWS, POST_AES_NIB, PRE_NIB};

/// Whether this CPU can run the kernels of this module.
pub fn available() -> bool {
    crate::cpu::has("aes") && crate::cpu::has("ssse3")
}

/// Blocks per group (one register holds one word of 4 blocks).
const GB: usize = 4;
/// Groups per main-loop step.
const G: usize = 4;

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn load16(t: &[u8; 16]) -> __m128i {
    _mm_loadu_si128(t.as_ptr() as *const _)
}

struct Consts {
    pre_lo: __m128i,
    pre_hi: __m128i,
    post_lo: __m128i,
    post_hi: __m128i,
    isr: __m128i,
    nib: __m128i,
    r8: __m128i,
    r16: __m128i,
    r24: __m128i,
    bswap: __m128i,
}

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn consts() -> Consts {
    Consts {
        pre_lo: load16(&PRE_NIB.0),
        pre_hi: load16(&PRE_NIB.1),
        post_lo: load16(&POST_AES_NIB.0),
        post_hi: load16(&POST_AES_NIB.1),
        isr: load16(&INV_SHIFT_ROWS),
        nib: _mm_set1_epi8(0x0f),
        r8: _mm_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3),
        r16: _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2),
        r24: _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1),
        bswap: _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3),
    }
}

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn affine(x: __m128i, lo: __m128i, hi: __m128i, nib: __m128i) -> __m128i {
    let l = _mm_and_si128(x, nib);
    let h = _mm_and_si128(_mm_srli_epi16::<4>(x), nib);
    _mm_xor_si128(_mm_shuffle_epi8(lo, l), _mm_shuffle_epi8(hi, h))
}

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn sbox(x: __m128i, c: &Consts) -> __m128i {
    let y = affine(x, c.pre_lo, c.pre_hi, c.nib);
    let s = _mm_shuffle_epi8(_mm_aesenclast_si128(y, _mm_setzero_si128()), c.isr);
    affine(s, c.post_lo, c.post_hi, c.nib)
}

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn round(
    x0: __m128i,
    x1: __m128i,
    x2: __m128i,
    x3: __m128i,
    rk: __m128i,
    c: &Consts,
) -> __m128i {
    let t = _mm_xor_si128(_mm_xor_si128(x1, x2), _mm_xor_si128(x3, rk));
    let b = sbox(t, c);
    // L(B) = B ⊕ B<<<24 ⊕ (B ⊕ B<<<8 ⊕ B<<<16)<<<2; byte rotations by pshufb.
    let m = _mm_xor_si128(
        _mm_xor_si128(b, _mm_shuffle_epi8(b, c.r8)),
        _mm_shuffle_epi8(b, c.r16),
    );
    let m2 = _mm_or_si128(_mm_slli_epi32::<2>(m), _mm_srli_epi32::<30>(m));
    _mm_xor_si128(
        _mm_xor_si128(x0, b),
        _mm_xor_si128(_mm_shuffle_epi8(b, c.r24), m2),
    )
}

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn rounds<const N: usize>(x: &mut [[__m128i; 4]; N], rk: &[u32; 32], c: &Consts) {
    for r in (0..32).step_by(4) {
        let k0 = _mm_set1_epi32(rk[r] as i32);
        for g in x.iter_mut() {
            g[0] = round(g[0], g[1], g[2], g[3], k0, c);
        }
        let k1 = _mm_set1_epi32(rk[r + 1] as i32);
        for g in x.iter_mut() {
            g[1] = round(g[1], g[2], g[3], g[0], k1, c);
        }
        let k2 = _mm_set1_epi32(rk[r + 2] as i32);
        for g in x.iter_mut() {
            g[2] = round(g[2], g[3], g[0], g[1], k2, c);
        }
        let k3 = _mm_set1_epi32(rk[r + 3] as i32);
        for g in x.iter_mut() {
            g[3] = round(g[3], g[0], g[1], g[2], k3, c);
        }
    }
    for g in x.iter_mut() {
        g.reverse();
    }
}

/// 4×4 dword transpose; an involution. Dword `r` of word register `k` is word `k` of block `r`.
#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn transpose(r: [__m128i; 4]) -> [__m128i; 4] {
    let t0 = _mm_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm_unpackhi_epi32(r[2], r[3]);
    [
        _mm_unpacklo_epi64(t0, t2),
        _mm_unpackhi_epi64(t0, t2),
        _mm_unpacklo_epi64(t1, t3),
        _mm_unpackhi_epi64(t1, t3),
    ]
}

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn load_group(p: *const u8, c: &Consts) -> [__m128i; 4] {
    let mut r = [_mm_setzero_si128(); 4];
    for (i, v) in r.iter_mut().enumerate() {
        *v = _mm_shuffle_epi8(_mm_loadu_si128(p.add(16 * i) as *const _), c.bswap);
    }
    transpose(r)
}

#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn to_bytes(x: [__m128i; 4], c: &Consts) -> [__m128i; 4] {
    let t = transpose(x);
    [
        _mm_shuffle_epi8(t[0], c.bswap),
        _mm_shuffle_epi8(t[1], c.bswap),
        _mm_shuffle_epi8(t[2], c.bswap),
        _mm_shuffle_epi8(t[3], c.bswap),
    ]
}

/// ECB over whole blocks in place (decrypt with reversed round keys).
///
/// # Safety
/// The CPU must support AES-NI and SSSE3 ([`available`]).
#[target_feature(enable = "aes,ssse3")]
pub unsafe fn crypt_ecb(rk: &[u32; 32], data: &mut [u8]) {
    debug_assert_eq!(data.len() % 16, 0);
    let c = consts();
    let step = 16 * GB * G;
    let mut chunks = data.chunks_exact_mut(step);
    for ch in &mut chunks {
        let p = ch.as_mut_ptr();
        let mut x = [[_mm_setzero_si128(); 4]; G];
        for (g, xg) in x.iter_mut().enumerate() {
            *xg = load_group(p.add(64 * g), &c);
        }
        rounds(&mut x, rk, &c);
        for (g, xg) in x.iter().enumerate() {
            for (i, v) in to_bytes(*xg, &c).iter().enumerate() {
                _mm_storeu_si128(p.add(64 * g + 16 * i) as *mut _, *v);
            }
        }
    }
    for ch in chunks.into_remainder().chunks_mut(64) {
        let mut buf = [0u8; 64];
        buf[..ch.len()].copy_from_slice(ch);
        let mut x = [load_group(buf.as_ptr(), &c)];
        rounds(&mut x, rk, &c);
        for (i, v) in to_bytes(x[0], &c).iter().enumerate() {
            _mm_storeu_si128(buf.as_mut_ptr().add(16 * i) as *mut _, *v);
        }
        ch.copy_from_slice(&buf[..ch.len()]);
    }
}

/// Counter blocks `ctr + base .. ctr + base + 4` as word registers (`wrap32`: GCM's inc32).
#[inline]
#[target_feature(enable = "aes,ssse3")]
unsafe fn counter_group(ctr: u128, base: u32, wrap32: bool) -> [__m128i; 4] {
    let lo = ctr as u32;
    if wrap32 || (lo as u64) + (base as u64) + 3 <= u32::MAX as u64 {
        [
            _mm_set1_epi32((ctr >> 96) as u32 as i32),
            _mm_set1_epi32((ctr >> 64) as u32 as i32),
            _mm_set1_epi32((ctr >> 32) as u32 as i32),
            _mm_add_epi32(
                _mm_set1_epi32(lo.wrapping_add(base) as i32),
                _mm_set_epi32(3, 2, 1, 0),
            ),
        ]
    } else {
        let mut w = [[0u32; 4]; 4];
        for j in 0..4 {
            let v = ctr.wrapping_add((base + j as u32) as u128);
            for (k, wk) in w.iter_mut().enumerate() {
                wk[j] = (v >> (96 - 32 * k)) as u32;
            }
        }
        [
            _mm_loadu_si128(w[0].as_ptr() as *const _),
            _mm_loadu_si128(w[1].as_ptr() as *const _),
            _mm_loadu_si128(w[2].as_ptr() as *const _),
            _mm_loadu_si128(w[3].as_ptr() as *const _),
        ]
    }
}

#[inline]
fn advance(ctr: u128, n: u32, wrap32: bool) -> u128 {
    if wrap32 {
        (ctr & !0xffff_ffffu128) | ((ctr as u32).wrapping_add(n) as u128)
    } else {
        ctr.wrapping_add(n as u128)
    }
}

/// XORs the keystream `E(ctr), E(ctr+1), ...` into `data` (any length).
///
/// # Safety
/// The CPU must support AES-NI and SSSE3 ([`available`]).
#[target_feature(enable = "aes,ssse3")]
pub unsafe fn ctr_xor(rk: &[u32; 32], mut ctr: u128, wrap32: bool, data: &mut [u8]) {
    let c = consts();
    let step = 16 * GB * G;
    let mut chunks = data.chunks_exact_mut(step);
    for ch in &mut chunks {
        let p = ch.as_mut_ptr();
        let mut x = [[_mm_setzero_si128(); 4]; G];
        for (g, xg) in x.iter_mut().enumerate() {
            *xg = counter_group(ctr, (GB * g) as u32, wrap32);
        }
        rounds(&mut x, rk, &c);
        for (g, xg) in x.iter().enumerate() {
            for (i, v) in to_bytes(*xg, &c).iter().enumerate() {
                let q = p.add(64 * g + 16 * i) as *mut __m128i;
                _mm_storeu_si128(q, _mm_xor_si128(_mm_loadu_si128(q), *v));
            }
        }
        ctr = advance(ctr, (GB * G) as u32, wrap32);
    }
    for ch in chunks.into_remainder().chunks_mut(64) {
        let mut x = [counter_group(ctr, 0, wrap32)];
        rounds(&mut x, rk, &c);
        let mut ks = [0u8; 64];
        for (i, v) in to_bytes(x[0], &c).iter().enumerate() {
            _mm_storeu_si128(ks.as_mut_ptr().add(16 * i) as *mut _, *v);
        }
        for (d, k) in ch.iter_mut().zip(ks.iter()) {
            *d ^= k;
        }
        ctr = advance(ctr, GB as u32, wrap32);
    }
}

/// The SM4 S-box on each byte of `x`, constant time (AES-NI). Used by the key schedule.
///
/// # Safety
/// The CPU must support AES-NI and SSSE3 ([`available`]).
#[target_feature(enable = "aes,ssse3")]
pub unsafe fn sbox_word(x: u32) -> u32 {
    let c = consts();
    // Same word in all four lanes so ShiftRows' cross-column moves stay inside equal data.
    _mm_cvtsi128_si32(sbox(_mm_set1_epi32(x as i32), &c)) as u32
}

/// CBC encryption in place (serial, one block in a 4-lane register); `iv` becomes the last
/// ciphertext block.
///
/// # Safety
/// The CPU must support AES-NI and SSSE3 ([`available`]).
#[target_feature(enable = "aes,ssse3")]
pub unsafe fn cbc_encrypt(rk: &[u32; 32], iv: &mut [u8; 16], data: &mut [u8]) {
    let c = consts();
    let mut chain = _mm_loadu_si128(iv.as_ptr() as *const _);
    for b in data.chunks_exact_mut(16) {
        let p = b.as_mut_ptr() as *mut __m128i;
        let v = _mm_shuffle_epi8(_mm_xor_si128(_mm_loadu_si128(p), chain), c.bswap);
        // Word k of the block broadcast to all lanes of x_k (lanes 1..3 compute copies).
        let mut x = [[
            _mm_shuffle_epi32::<0x00>(v),
            _mm_shuffle_epi32::<0x55>(v),
            _mm_shuffle_epi32::<0xaa>(v),
            _mm_shuffle_epi32::<0xff>(v),
        ]];
        rounds(&mut x, rk, &c);
        let o = to_bytes(x[0], &c)[0];
        _mm_storeu_si128(p, o);
        chain = o;
    }
    _mm_storeu_si128(iv.as_mut_ptr() as *mut _, chain);
}
