//! SM4 with AES-NI + AVX2 (CPUs with AVX2 but without GFNI: Zen 1-3, Hygon, Intel Haswell to
//! Comet Lake).
//!
//! Same S-box as [`super::sm4_aesni`] (nibble lookups for the affine maps around `aesenclast`
//! with a zero key, derivation in [`super::sm4_sbox`]), on eight blocks per 256-bit register.
//! AES-NI without VAES works on 128-bit registers, so each S-box layer splits the register into
//! its two lanes for the two `aesenclast` and joins them again. What differs from the SSSE3
//! kernel and why, measured on Zen 2 (one pipe, FP2, takes every vector shift, lane move and
//! store, and shares the shuffles; a lane move costs 3 cycles of latency each way):
//! - eight register groups (64 blocks) per step, and each round runs stage by stage across the
//!   groups ([`round_all`]): a round is a ~30-cycle chain, and with the groups one after another
//!   in program order the scheduler filled with one group's waiting instructions (G = 4 in
//!   program order: 816 MB/s; stage by stage: G = 4 986, G = 6 1,095, G = 8 1,130, G = 12 929);
//! - the nibble split shifts by a `vpmulhuw` (pipe FP0) and `<<< 2` in L takes its left shift
//!   from two additions, both in `asm!` so that LLVM keeps them off FP2;
//! - ShiftRows is undone inside the rotations of L (`isr`, `isr∘rot8`, …), not as its own shuffle.
//!
//! Lanes: a group loads blocks 2i and 2i+1 into register i (i = 0..3); the in-lane 4×4 transpose
//! then gives word k of blocks 0, 2, 4, 6 (low lane) and 1, 3, 5, 7 (high lane) in register k.
//! The transpose is its own inverse, so blocks return to their places; counters are laid out to
//! match ([`counter_group`]). The lookups index registers, never memory: constant time.
//!
//! Every function here is `unsafe` and requires AES-NI and AVX2 ([`available`]).

#![allow(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::sm4_sbox::{INV_SHIFT_ROWS, POST_AES_NIB, PRE_NIB};

/// Whether this CPU can run the kernels of this module.
pub fn available() -> bool {
    crate::cpu::has("aes") && crate::cpu::has("avx2")
}

/// Blocks per group (one register holds one word of 8 blocks).
const GB: usize = 8;
/// Groups per main-loop step.
const G: usize = 8;
/// Bytes per main-loop step.
pub(crate) const STEP: usize = 16 * GB * G;

struct Consts {
    pre_lo: __m256i,
    pre_hi: __m256i,
    post_lo: __m256i,
    post_hi: __m256i,
    nib: __m256i,
    /// ShiftRows undone, then the word rotated left by 0, 8, 16, 24 bits.
    isr: [__m256i; 4],
    bswap: __m256i,
}

#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn bcast16(t: &[u8; 16]) -> __m256i {
    _mm256_broadcastsi128_si256(_mm_loadu_si128(t.as_ptr() as *const _))
}

/// `isr` followed by a left rotation of every 32-bit word by `8·r` bits, as one shuffle mask.
fn isr_rot(r: usize) -> [u8; 16] {
    let mut m = [0u8; 16];
    for (i, v) in m.iter_mut().enumerate() {
        // Little-endian word: output byte j of a word takes input byte (j - r) mod 4.
        let w = i & !3;
        let src = w + ((i & 3) + 4 - r) % 4;
        *v = INV_SHIFT_ROWS[src];
    }
    m
}

#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn consts() -> Consts {
    Consts {
        pre_lo: bcast16(&PRE_NIB.0),
        pre_hi: bcast16(&PRE_NIB.1),
        post_lo: bcast16(&POST_AES_NIB.0),
        post_hi: bcast16(&POST_AES_NIB.1),
        nib: _mm256_set1_epi8(0x0f),
        isr: [
            bcast16(&isr_rot(0)),
            bcast16(&isr_rot(1)),
            bcast16(&isr_rot(2)),
            bcast16(&isr_rot(3)),
        ],
        bswap: bcast16(&[3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12]),
    }
}

/// `x >> 4` in each 16-bit word as `(x · 2¹²) >> 16` (`vpmulhuw`, pipe FP0 on Zen 2), written in
/// `asm!` so that LLVM does not turn it back into a shift (FP2, shared with the lane moves).
#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn shr4(x: __m256i) -> __m256i {
    let r: __m256i;
    core::arch::asm!("vpmulhuw {r}, {x}, {k}", r = lateout(ymm_reg) r, x = in(ymm_reg) x,
        k = in(ymm_reg) _mm256_set1_epi16(1 << 12), options(pure, nomem, nostack));
    r
}

/// `x + x` in each 32-bit word, in `asm!` so that LLVM keeps the addition (any pipe) instead of
/// a shift (FP2 only).
#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn dbl(x: __m256i) -> __m256i {
    let r: __m256i;
    core::arch::asm!("vpaddd {r}, {x}, {x}", r = lateout(ymm_reg) r, x = in(ymm_reg) x,
        options(pure, nomem, nostack));
    r
}

#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn affine(x: __m256i, lo: __m256i, hi: __m256i, nib: __m256i) -> __m256i {
    let l = _mm256_and_si256(x, nib);
    let h = _mm256_and_si256(shr4(x), nib);
    _mm256_xor_si256(_mm256_shuffle_epi8(lo, l), _mm256_shuffle_epi8(hi, h))
}

/// Round `i` (word `i % 4` is replaced) on every group, one stage at a time across the groups,
/// so that the out-of-order core sees the groups' independent work side by side: a round is a
/// ~30-cycle dependency chain, and the scheduler fills up with one group's waiting
/// instructions if the groups follow each other in program order.
#[inline(always)]
unsafe fn round_all<const N: usize>(x: &mut [[__m256i; 4]; N], i: usize, rk: __m256i, c: &Consts) {
    let (i0, i1, i2, i3) = (i % 4, (i + 1) % 4, (i + 2) % 4, (i + 3) % 4);
    let mut s = [_mm256_setzero_si256(); N];
    for g in 0..N {
        let t = _mm256_xor_si256(
            _mm256_xor_si256(x[g][i1], x[g][i2]),
            _mm256_xor_si256(x[g][i3], rk),
        );
        s[g] = affine(t, c.pre_lo, c.pre_hi, c.nib);
    }
    let z = _mm_setzero_si128();
    for sg in s.iter_mut() {
        let lo = _mm_aesenclast_si128(_mm256_castsi256_si128(*sg), z);
        let hi = _mm_aesenclast_si128(_mm256_extracti128_si256::<1>(*sg), z);
        *sg = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
    }
    for g in 0..N {
        let s = affine(s[g], c.post_lo, c.post_hi, c.nib);
        // L(B) = B ⊕ B<<<24 ⊕ (B ⊕ B<<<8 ⊕ B<<<16)<<<2 (ShiftRows undone inside the shuffles).
        let b = _mm256_shuffle_epi8(s, c.isr[0]);
        let m = _mm256_xor_si256(
            _mm256_xor_si256(b, _mm256_shuffle_epi8(s, c.isr[1])),
            _mm256_shuffle_epi8(s, c.isr[2]),
        );
        let m2 = _mm256_or_si256(dbl(dbl(m)), _mm256_srli_epi32::<30>(m));
        x[g][i0] = _mm256_xor_si256(
            _mm256_xor_si256(x[g][i0], b),
            _mm256_xor_si256(_mm256_shuffle_epi8(s, c.isr[3]), m2),
        );
    }
}

#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn rounds<const N: usize>(x: &mut [[__m256i; 4]; N], rk: &[u32; 32], c: &Consts) {
    for r in (0..32).step_by(4) {
        for i in 0..4 {
            round_all(x, i, _mm256_set1_epi32(rk[r + i] as i32), c);
        }
    }
    for g in x.iter_mut() {
        g.reverse();
    }
}

/// In-lane 4×4 dword transpose; an involution.
#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn transpose(r: [__m256i; 4]) -> [__m256i; 4] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    [
        _mm256_unpacklo_epi64(t0, t2),
        _mm256_unpackhi_epi64(t0, t2),
        _mm256_unpacklo_epi64(t1, t3),
        _mm256_unpackhi_epi64(t1, t3),
    ]
}

/// Eight blocks at `p` as word registers.
#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn load_group(p: *const u8, c: &Consts) -> [__m256i; 4] {
    let mut r = [_mm256_setzero_si256(); 4];
    for (i, v) in r.iter_mut().enumerate() {
        *v = _mm256_shuffle_epi8(_mm256_loadu_si256(p.add(32 * i) as *const _), c.bswap);
    }
    transpose(r)
}

/// Word registers back to eight blocks in memory order (32 bytes per register).
#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn to_bytes(x: [__m256i; 4], c: &Consts) -> [__m256i; 4] {
    let t = transpose(x);
    [
        _mm256_shuffle_epi8(t[0], c.bswap),
        _mm256_shuffle_epi8(t[1], c.bswap),
        _mm256_shuffle_epi8(t[2], c.bswap),
        _mm256_shuffle_epi8(t[3], c.bswap),
    ]
}

/// ECB over whole blocks in place (decrypt with reversed round keys).
///
/// # Safety
/// The CPU must support AES-NI and AVX2 ([`available`]).
#[target_feature(enable = "aes,avx2")]
pub unsafe fn crypt_ecb(rk: &[u32; 32], data: &mut [u8]) {
    debug_assert_eq!(data.len() % 16, 0);
    let c = consts();
    let mut chunks = data.chunks_exact_mut(STEP);
    for ch in &mut chunks {
        let p = ch.as_mut_ptr();
        let mut x = [[_mm256_setzero_si256(); 4]; G];
        for (g, xg) in x.iter_mut().enumerate() {
            *xg = load_group(p.add(128 * g), &c);
        }
        rounds(&mut x, rk, &c);
        for (g, xg) in x.iter().enumerate() {
            for (i, v) in to_bytes(*xg, &c).iter().enumerate() {
                _mm256_storeu_si256(p.add(128 * g + 32 * i) as *mut _, *v);
            }
        }
    }
    for ch in chunks.into_remainder().chunks_mut(128) {
        let mut buf = [0u8; 128];
        buf[..ch.len()].copy_from_slice(ch);
        let mut x = [load_group(buf.as_ptr(), &c)];
        rounds(&mut x, rk, &c);
        for (i, v) in to_bytes(x[0], &c).iter().enumerate() {
            _mm256_storeu_si256(buf.as_mut_ptr().add(32 * i) as *mut _, *v);
        }
        ch.copy_from_slice(&buf[..ch.len()]);
    }
}

/// Counter blocks `ctr + base .. ctr + base + 8` as word registers, in the lane order of
/// [`load_group`] (`wrap32`: GCM's inc32).
#[inline]
#[target_feature(enable = "aes,avx2")]
unsafe fn counter_group(ctr: u128, base: u32, wrap32: bool) -> [__m256i; 4] {
    let lo = ctr as u32;
    if wrap32 || (lo as u64) + (base as u64) + 7 <= u32::MAX as u64 {
        [
            _mm256_set1_epi32((ctr >> 96) as u32 as i32),
            _mm256_set1_epi32((ctr >> 64) as u32 as i32),
            _mm256_set1_epi32((ctr >> 32) as u32 as i32),
            _mm256_add_epi32(
                _mm256_set1_epi32(lo.wrapping_add(base) as i32),
                _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7),
            ),
        ]
    } else {
        // The low word carries into the upper words inside this group: build it word by word.
        let mut w = [[0u32; 8]; 4];
        for lane in 0..8 {
            let j = 2 * (lane % 4) + lane / 4;
            let v = ctr.wrapping_add((base + j as u32) as u128);
            for (k, wk) in w.iter_mut().enumerate() {
                wk[lane] = (v >> (96 - 32 * k)) as u32;
            }
        }
        w.map(|wk| _mm256_loadu_si256(wk.as_ptr() as *const _))
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
/// The CPU must support AES-NI and AVX2 ([`available`]).
#[target_feature(enable = "aes,avx2")]
pub unsafe fn ctr_xor(rk: &[u32; 32], mut ctr: u128, wrap32: bool, data: &mut [u8]) {
    let c = consts();
    let mut chunks = data.chunks_exact_mut(STEP);
    for ch in &mut chunks {
        let p = ch.as_mut_ptr();
        let mut x = [[_mm256_setzero_si256(); 4]; G];
        for (g, xg) in x.iter_mut().enumerate() {
            *xg = counter_group(ctr, (GB * g) as u32, wrap32);
        }
        rounds(&mut x, rk, &c);
        for (g, xg) in x.iter().enumerate() {
            for (i, v) in to_bytes(*xg, &c).iter().enumerate() {
                let q = p.add(128 * g + 32 * i) as *mut __m256i;
                _mm256_storeu_si256(q, _mm256_xor_si256(_mm256_loadu_si256(q), *v));
            }
        }
        ctr = advance(ctr, (GB * G) as u32, wrap32);
    }
    for ch in chunks.into_remainder().chunks_mut(128) {
        let mut x = [counter_group(ctr, 0, wrap32)];
        rounds(&mut x, rk, &c);
        let mut ks = [0u8; 128];
        for (i, v) in to_bytes(x[0], &c).iter().enumerate() {
            _mm256_storeu_si256(ks.as_mut_ptr().add(32 * i) as *mut _, *v);
        }
        for (d, k) in ch.iter_mut().zip(ks.iter()) {
            *d ^= k;
        }
        ctr = advance(ctr, GB as u32, wrap32);
    }
}

/// CBC decryption in place: the blocks decrypt in parallel, then each is XORed with the
/// ciphertext before it; `iv` becomes the last ciphertext block.
///
/// # Safety
/// The CPU must support AES-NI and AVX2 ([`available`]).
#[target_feature(enable = "aes,avx2")]
pub unsafe fn cbc_decrypt(rk_dec: &[u32; 32], iv: &mut [u8; 16], data: &mut [u8]) {
    debug_assert_eq!(data.len() % 16, 0);
    // The ciphertext of a chunk is kept aside before it is overwritten.
    let mut prev = [0u8; STEP + 16];
    for ch in data.chunks_mut(STEP) {
        let n = ch.len();
        prev[..16].copy_from_slice(iv);
        prev[16..16 + n].copy_from_slice(ch);
        iv.copy_from_slice(&prev[n..n + 16]);
        crypt_ecb(rk_dec, ch);
        let mut i = 0;
        while i < n {
            let q = ch.as_mut_ptr().add(i) as *mut __m128i;
            let s = _mm_loadu_si128(prev.as_ptr().add(i) as *const _);
            _mm_storeu_si128(q, _mm_xor_si128(_mm_loadu_si128(q), s));
            i += 16;
        }
    }
}
