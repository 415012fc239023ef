//! Multi-buffer SM3 on AVX2: 8 independent messages, one per 32-bit lane (for CPUs without
//! AVX-512). Same structure as [`super::sm3_mb`]: per step one 64-byte block per lane, 8×8 word
//! transposes, message expansion and the 64 rounds of GB/T 32905 §5.3 in `ymm` registers;
//! lanes without a block at a step keep their state.

#![allow(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::sm3_scalar::{final_blocks, IV, TJ_ROT};

/// Whether this CPU can run the kernels of this module.
pub fn available() -> bool {
    crate::cpu::has("avx2")
}

pub(crate) const LANES: usize = 8;

macro_rules! rol {
    ($x:expr, $n:literal) => {{
        let x = $x;
        _mm256_or_si256(
            _mm256_slli_epi32::<$n>(x),
            _mm256_srli_epi32::<{ 32 - $n }>(x),
        )
    }};
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn xor3(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add(a: __m256i, b: __m256i) -> __m256i {
    _mm256_add_epi32(a, b)
}

/// 8×8 transpose of 32-bit words: row `i` (lane `i`'s 8 words) becomes column `i`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn transpose8(r: &mut [__m256i; 8]) {
    let mut t = [_mm256_setzero_si256(); 8];
    for i in 0..4 {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + k], 128-bit half h: word 4h + k of rows 4g..4g+3.
    let mut u = [_mm256_setzero_si256(); 8];
    for g in 0..2 {
        u[4 * g] = _mm256_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm256_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm256_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm256_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for k in 0..4 {
        r[k] = _mm256_permute2x128_si256::<0x20>(u[k], u[4 + k]); // low halves: word k
        r[4 + k] = _mm256_permute2x128_si256::<0x31>(u[k], u[4 + k]); // high halves: word 4 + k
    }
}

/// One compression step for 8 lanes; lanes whose `active` mask is zero keep their state.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn compress8(v: &mut [__m256i; 8], blocks: &[*const u8; LANES], active: __m256i) {
    let bswap = _mm256_broadcastsi128_si256(_mm_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
    ));
    let mut w = [_mm256_setzero_si256(); 68];
    for half in 0..2 {
        let mut r = [_mm256_setzero_si256(); 8];
        for (l, p) in blocks.iter().enumerate() {
            r[l] = _mm256_loadu_si256(p.add(32 * half) as *const _);
        }
        transpose8(&mut r);
        for i in 0..8 {
            w[8 * half + i] = _mm256_shuffle_epi8(r[i], bswap);
        }
    }
    for j in 16..68 {
        let x = xor3(w[j - 16], w[j - 9], rol!(w[j - 3], 15));
        let p1 = xor3(x, rol!(x, 15), rol!(x, 23));
        w[j] = xor3(p1, rol!(w[j - 13], 7), w[j - 6]);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *v;
    for j in 0..64 {
        let a12 = rol!(a, 12);
        let ss1 = rol!(add(add(a12, _mm256_set1_epi32(TJ_ROT[j] as i32)), e), 7);
        let ss2 = _mm256_xor_si256(ss1, a12);
        let (ff, gg) = if j < 16 {
            (xor3(a, b, c), xor3(e, f, g))
        } else {
            (
                _mm256_or_si256(
                    _mm256_and_si256(a, b),
                    _mm256_and_si256(c, _mm256_or_si256(a, b)),
                ),
                _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(f, g), e), g),
            )
        };
        let tt1 = add(add(ff, d), add(_mm256_xor_si256(w[j], w[j + 4]), ss2));
        let tt2 = add(add(gg, h), add(w[j], ss1));
        d = c;
        c = rol!(b, 9);
        b = a;
        a = tt1;
        h = g;
        g = rol!(f, 19);
        f = e;
        e = xor3(tt2, rol!(tt2, 9), rol!(tt2, 17));
    }
    for (s, x) in v.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = _mm256_blendv_epi8(*s, _mm256_xor_si256(*s, x), active);
    }
}

/// Hashes up to 8 messages in lockstep, writing digests to `out[i]`.
///
/// # Safety
/// The CPU must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub unsafe fn digest8(msgs: &[&[u8]], out: &mut [[u8; 32]]) {
    debug_assert!(msgs.len() <= LANES && out.len() == msgs.len());
    static ZERO: [u8; 64] = [0; 64];
    let mut tails = [[0u8; 128]; LANES];
    let mut full = [0usize; LANES];
    let mut total = [0usize; LANES];
    for (l, m) in msgs.iter().enumerate() {
        full[l] = m.len() / 64;
        let n = final_blocks(&m[full[l] * 64..], m.len() as u64, &mut tails[l]);
        total[l] = full[l] + n / 64;
    }
    let steps = total.iter().copied().max().unwrap_or(0);
    let mut v = [_mm256_setzero_si256(); 8];
    for (s, iv) in v.iter_mut().zip(IV) {
        *s = _mm256_set1_epi32(iv as i32);
    }
    let mut ptrs = [ZERO.as_ptr(); LANES];
    for k in 0..steps {
        let mut mask = [0i32; LANES];
        for l in 0..msgs.len() {
            ptrs[l] = if k < full[l] {
                msgs[l].as_ptr().add(64 * k)
            } else if k < total[l] {
                tails[l].as_ptr().add(64 * (k - full[l]))
            } else {
                ZERO.as_ptr()
            };
            if k < total[l] {
                mask[l] = -1;
            }
        }
        compress8(&mut v, &ptrs, _mm256_loadu_si256(mask.as_ptr() as *const _));
    }
    let mut words = [[0u32; LANES]; 8];
    for (wd, s) in words.iter_mut().zip(v.iter()) {
        _mm256_storeu_si256(wd.as_mut_ptr() as *mut _, *s);
    }
    for (l, o) in out.iter_mut().enumerate() {
        for i in 0..8 {
            o[4 * i..4 * i + 4].copy_from_slice(&words[i][l].to_be_bytes());
        }
    }
}

/// Absorbs whole blocks into up to 8 running chaining values (streaming multi-buffer, as
/// [`super::sm3_mb::update_sets`]): `msgs[l]` (a multiple of 64 bytes) goes into `v[l]`.
///
/// # Safety
/// The CPU must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub unsafe fn update8(v: &mut [[u32; 8]], msgs: &[&[u8]]) {
    debug_assert!(msgs.len() <= LANES && v.len() == msgs.len());
    debug_assert!(msgs.iter().all(|m| m.len() % 64 == 0));
    static ZERO: [u8; 64] = [0; 64];
    let steps = msgs.iter().map(|m| m.len() / 64).max().unwrap_or(0);
    let mut words = [[0u32; LANES]; 8];
    for (l, st) in v.iter().enumerate() {
        for i in 0..8 {
            words[i][l] = st[i];
        }
    }
    let mut s = [_mm256_setzero_si256(); 8];
    for i in 0..8 {
        s[i] = _mm256_loadu_si256(words[i].as_ptr() as *const _);
    }
    let mut ptrs = [ZERO.as_ptr(); LANES];
    for k in 0..steps {
        let mut mask = [0i32; LANES];
        for (l, m) in msgs.iter().enumerate() {
            if k < m.len() / 64 {
                ptrs[l] = m.as_ptr().add(64 * k);
                mask[l] = -1;
            } else {
                ptrs[l] = ZERO.as_ptr();
            }
        }
        compress8(&mut s, &ptrs, _mm256_loadu_si256(mask.as_ptr() as *const _));
    }
    for i in 0..8 {
        _mm256_storeu_si256(words[i].as_mut_ptr() as *mut _, s[i]);
    }
    for (l, st) in v.iter_mut().enumerate() {
        for i in 0..8 {
            st[i] = words[i][l];
        }
    }
}
