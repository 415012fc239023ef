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

// Rotations. Two immediate shifts and an OR each, except where a byte shuffle does part of the
// work: `x <<< 8k` is one `vpshufb`, and `x <<< 9` = `(x <<< 8) <<< 1` takes its left shift from an
// addition. (Measured on Zen 2, where one pipe takes every immediate vector shift: moving the
// other left shifts to `vpmulld` or `vpsllvd` was slower, 977-1,059 MB/s against 1,096.)

/// `x << 1` as `x + x`, in `asm!` so that LLVM does not turn it back into a shift.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn shl_add1(x: __m256i) -> __m256i {
    let r: __m256i;
    core::arch::asm!("vpaddd {r}, {x}, {x}", r = lateout(ymm_reg) r, x = in(ymm_reg) x,
        options(pure, nomem, nostack));
    r
}

/// Rotation left by 8 (`R = 1`) or 16 (`R = 2`) bits: a byte shuffle.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn rol_bytes<const R: usize>(x: __m256i) -> __m256i {
    let m = if R == 1 {
        _mm256_broadcastsi128_si256(_mm_set_epi8(
            14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3,
        ))
    } else {
        _mm256_broadcastsi128_si256(_mm_set_epi8(
            13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2,
        ))
    };
    _mm256_shuffle_epi8(x, m)
}

macro_rules! rol {
    ($x:expr, $n:literal) => {{
        let x = $x;
        _mm256_or_si256(
            _mm256_slli_epi32::<$n>(x),
            _mm256_srli_epi32::<{ 32 - $n }>(x),
        )
    }};
}

/// `x <<< 1`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn rol1(x: __m256i) -> __m256i {
    _mm256_or_si256(shl_add1(x), _mm256_srli_epi32::<31>(x))
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

/// `W_j` of the message expansion (GB/T 32905 §5.3.2).
#[inline(always)]
unsafe fn expand(w: &mut [__m256i; 68], j: usize) {
    // P1(x) = x ⊕ x<<<15 ⊕ x<<<23 = x ⊕ (x ⊕ x<<<8)<<<15; x<<<15 = (x<<<8)<<<7.
    let x = xor3(w[j - 16], w[j - 9], rol!(rol_bytes::<1>(w[j - 3]), 7));
    let y = _mm256_xor_si256(x, rol_bytes::<1>(x));
    let p1 = _mm256_xor_si256(x, rol!(rol_bytes::<1>(y), 7));
    w[j] = xor3(p1, rol!(w[j - 13], 7), w[j - 6]);
}

/// Round `j` (GB/T 32905 §5.3.3) on 8 lanes, with the roles renamed rather than the values
/// moved (as in `sm3_x86_64.s`): in round `j`, with `R = j % 4`, A-D are `s[(k + 4 - R) % 4]`
/// and E-H `s[4 + (k + 4 - R) % 4]` for k = 0..3. The new A goes over D, the new E over H.
/// `MAJ`: rounds 16-63 (FF = majority, GG = choice).
#[inline(always)]
unsafe fn round<const MAJ: bool, const R: usize>(
    s: &mut [__m256i; 8],
    w: &[__m256i; 68],
    j: usize,
) {
    let [ia, ib, ic, id] = [(4 - R) % 4, (5 - R) % 4, (6 - R) % 4, (7 - R) % 4];
    let (a, b, c, d) = (s[ia], s[ib], s[ic], s[id]);
    let (e, f, g, h) = (s[4 + ia], s[4 + ib], s[4 + ic], s[4 + id]);
    let a12 = rol!(a, 12);
    let ss1 = rol!(add(add(a12, _mm256_set1_epi32(TJ_ROT[j] as i32)), e), 7);
    let ss2 = _mm256_xor_si256(ss1, a12);
    let (ff, gg) = if MAJ {
        (
            _mm256_or_si256(
                _mm256_and_si256(a, b),
                _mm256_and_si256(c, _mm256_or_si256(a, b)),
            ),
            _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(f, g), e), g),
        )
    } else {
        (xor3(a, b, c), xor3(e, f, g))
    };
    let tt1 = add(add(ff, d), add(_mm256_xor_si256(w[j], w[j + 4]), ss2));
    let tt2 = add(add(gg, h), add(w[j], ss1));
    s[id] = tt1;
    s[ib] = rol1(rol_bytes::<1>(b));
    s[4 + ib] = rol!(rol_bytes::<2>(f), 3);
    // P0(x) = x ⊕ x<<<9 ⊕ x<<<17 = x ⊕ (x ⊕ x<<<8)<<<9; x<<<9 = (x<<<8)<<<1.
    let y = _mm256_xor_si256(tt2, rol_bytes::<1>(tt2));
    s[4 + id] = _mm256_xor_si256(tt2, rol1(rol_bytes::<1>(y)));
}

/// Four rounds from `j` (a multiple of 4); each first expands `W_(j+16)` while one is left
/// (it is first read, as `W'`, twelve rounds later), so the independent expansion fills the
/// issue slots the rounds' dependency chain leaves free.
#[inline(always)]
unsafe fn rounds4<const MAJ: bool>(s: &mut [__m256i; 8], w: &mut [__m256i; 68], j: usize) {
    if j + 16 < 68 {
        expand(w, j + 16);
    }
    round::<MAJ, 0>(s, w, j);
    if j + 17 < 68 {
        expand(w, j + 17);
    }
    round::<MAJ, 1>(s, w, j + 1);
    if j + 18 < 68 {
        expand(w, j + 18);
    }
    round::<MAJ, 2>(s, w, j + 2);
    if j + 19 < 68 {
        expand(w, j + 19);
    }
    round::<MAJ, 3>(s, w, j + 3);
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
    let mut st = *v;
    for j in (0..16).step_by(4) {
        rounds4::<false>(&mut st, &mut w, j);
    }
    for j in (16..64).step_by(4) {
        rounds4::<true>(&mut st, &mut w, j);
    }
    for (s, x) in v.iter_mut().zip(st) {
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
