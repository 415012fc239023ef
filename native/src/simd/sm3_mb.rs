//! Multi-buffer SM3 on AVX-512: 16 independent messages, one per 32-bit lane.
//!
//! Each step loads one 64-byte block per lane (16 × 64 bytes), transposes the 16×16 word
//! matrix so register `i` holds message word `i` of every lane, expands the message and runs the
//! 64 rounds of GB/T 32905 §5.3 with `vprold` rotations and `vpternlogd` for FF/GG/P0/P1.
//! Lanes whose message has no block at this step are masked out of the state update.

#![allow(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::sm3_scalar::{final_blocks, IV, TJ_ROT};

/// Whether this CPU can run the kernels of this module.
pub fn available() -> bool {
    crate::cpu::has("avx512f") && crate::cpu::has("avx512bw")
}

pub(crate) const LANES: usize = 16;

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn transpose16(r: &mut [__m512i; 16]) {
    // Stage 1: 32-bit interleave of row pairs.
    let mut t = [_mm512_setzero_si512(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    // Stage 2: 64-bit interleave.
    let mut u = [_mm512_setzero_si512(); 16];
    for i in 0..4 {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    // Now u[4i + k] holds, in 128-bit lane L, word (4L + k) of rows 4i..4i+3.
    // Stage 3/4: 128-bit lane shuffles to gather each word across the four row groups.
    for k in 0..4 {
        let a0 = _mm512_shuffle_i32x4::<0x44>(u[k], u[4 + k]); // lanes 0,1 of g0 | lanes 0,1 of g1
        let a1 = _mm512_shuffle_i32x4::<0xee>(u[k], u[4 + k]); // lanes 2,3 of g0 | lanes 2,3 of g1
        let b0 = _mm512_shuffle_i32x4::<0x44>(u[8 + k], u[12 + k]);
        let b1 = _mm512_shuffle_i32x4::<0xee>(u[8 + k], u[12 + k]);
        r[k] = _mm512_shuffle_i32x4::<0x88>(a0, b0); // lane 0 of g0,g1,g2,g3
        r[4 + k] = _mm512_shuffle_i32x4::<0xdd>(a0, b0); // lane 1
        r[8 + k] = _mm512_shuffle_i32x4::<0x88>(a1, b1); // lane 2
        r[12 + k] = _mm512_shuffle_i32x4::<0xdd>(a1, b1); // lane 3
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn p0(x: __m512i) -> __m512i {
    xor3(x, _mm512_rol_epi32::<9>(x), _mm512_rol_epi32::<17>(x))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn p1(x: __m512i) -> __m512i {
    xor3(x, _mm512_rol_epi32::<15>(x), _mm512_rol_epi32::<23>(x))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn add(a: __m512i, b: __m512i) -> __m512i {
    _mm512_add_epi32(a, b)
}

/// Loads one block per lane and expands it: `w[j]` holds `W_j` of every lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn expand16(blocks: &[*const u8; LANES], w: &mut [__m512i; 68]) {
    let mut r = [_mm512_setzero_si512(); 16];
    for (l, p) in blocks.iter().enumerate() {
        r[l] = _mm512_loadu_si512(*p as *const _);
    }
    transpose16(&mut r);
    let bswap = _mm512_broadcast_i32x4(_mm_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
    ));
    for i in 0..16 {
        w[i] = _mm512_shuffle_epi8(r[i], bswap);
    }
    for j in 16..68 {
        let x = xor3(w[j - 16], w[j - 9], _mm512_rol_epi32::<15>(w[j - 3]));
        w[j] = xor3(p1(x), _mm512_rol_epi32::<7>(w[j - 13]), w[j - 6]);
    }
}

/// One compression step for `B` independent sets of 16 lanes (interleaved so one set's rounds
/// fill the other's latency); lanes outside `active[k]` keep their state.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn compress16<const B: usize>(
    v: &mut [[__m512i; 8]; B],
    blocks: &[[*const u8; LANES]; B],
    active: &[__mmask16; B],
) {
    let mut w = [[_mm512_setzero_si512(); 68]; B];
    for k in 0..B {
        expand16(&blocks[k], &mut w[k]);
    }
    let mut s = *v;
    for j in 0..64 {
        let t = _mm512_set1_epi32(TJ_ROT[j] as i32);
        for k in 0..B {
            let [a, b, c, d, e, f, g, h] = s[k];
            let a12 = _mm512_rol_epi32::<12>(a);
            // (A <<< 12) + T_j first: E arrives last on the dependency chain.
            let ss1 = _mm512_rol_epi32::<7>(add(add(a12, t), e));
            let ss2 = _mm512_xor_si512(ss1, a12);
            let (ff, gg) = if j < 16 {
                (xor3(a, b, c), xor3(e, f, g))
            } else {
                // majority(a, b, c) and select(e ? f : g)
                (
                    _mm512_ternarylogic_epi32::<0xe8>(a, b, c),
                    _mm512_ternarylogic_epi32::<0xca>(e, f, g),
                )
            };
            let wk = &w[k];
            let tt1 = add(add(add(ff, d), _mm512_xor_si512(wk[j], wk[j + 4])), ss2);
            let tt2 = add(add(add(gg, h), wk[j]), ss1);
            s[k] = [
                tt1,
                a,
                _mm512_rol_epi32::<9>(b),
                c,
                p0(tt2),
                e,
                _mm512_rol_epi32::<19>(f),
                g,
            ];
        }
    }
    for k in 0..B {
        for (st, x) in v[k].iter_mut().zip(s[k]) {
            *st = _mm512_mask_xor_epi32(*st, active[k], *st, x);
        }
    }
}

/// Hashes up to `16 * B` messages in lockstep, writing digests to `out[i]`.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512BW ([`available`]).
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn digest_sets<const B: usize>(msgs: &[&[u8]], out: &mut [[u8; 32]]) {
    debug_assert!(msgs.len() <= LANES * B && out.len() == msgs.len());
    static ZERO: [u8; 64] = [0; 64];
    let n = msgs.len();
    let mut tails = vec![[0u8; 128]; n];
    let mut full = vec![0usize; n];
    let mut total = vec![0usize; n];
    for (l, m) in msgs.iter().enumerate() {
        full[l] = m.len() / 64;
        let t = final_blocks(&m[full[l] * 64..], m.len() as u64, &mut tails[l]);
        total[l] = full[l] + t / 64;
    }
    let steps = total.iter().copied().max().unwrap_or(0);
    let mut v = [[_mm512_setzero_si512(); 8]; B];
    for set in v.iter_mut() {
        for (s, iv) in set.iter_mut().zip(IV) {
            *s = _mm512_set1_epi32(iv as i32);
        }
    }
    let mut ptrs = [[ZERO.as_ptr(); LANES]; B];
    for k in 0..steps {
        let mut active = [0u16; B];
        for l in 0..n {
            let (set, lane) = (l / LANES, l % LANES);
            ptrs[set][lane] = if k < full[l] {
                msgs[l].as_ptr().add(64 * k)
            } else if k < total[l] {
                tails[l].as_ptr().add(64 * (k - full[l]))
            } else {
                ZERO.as_ptr()
            };
            if k < total[l] {
                active[set] |= 1 << lane;
            }
        }
        compress16(&mut v, &ptrs, &active);
    }
    for (l, o) in out.iter_mut().enumerate() {
        let (set, lane) = (l / LANES, l % LANES);
        let mut words = [[0u32; LANES]; 8];
        for (wd, s) in words.iter_mut().zip(v[set].iter()) {
            _mm512_storeu_si512(wd.as_mut_ptr() as *mut _, *s);
        }
        for i in 0..8 {
            o[4 * i..4 * i + 4].copy_from_slice(&words[i][lane].to_be_bytes());
        }
    }
}

/// Absorbs whole blocks into up to `16 * B` running chaining values (streaming multi-buffer):
/// `msgs[l]` (a multiple of 64 bytes) goes into `v[l]`; a lane with fewer blocks than the others
/// is masked out of the later steps, an empty one is left unchanged.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512BW ([`available`]).
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn update_sets<const B: usize>(v: &mut [[u32; 8]], msgs: &[&[u8]]) {
    debug_assert!(msgs.len() <= LANES * B && v.len() == msgs.len());
    debug_assert!(msgs.iter().all(|m| m.len() % 64 == 0));
    static ZERO: [u8; 64] = [0; 64];
    let steps = msgs.iter().map(|m| m.len() / 64).max().unwrap_or(0);
    let mut words = [[[0u32; LANES]; 8]; B];
    for (l, st) in v.iter().enumerate() {
        for i in 0..8 {
            words[l / LANES][i][l % LANES] = st[i];
        }
    }
    let mut s = [[_mm512_setzero_si512(); 8]; B];
    for k in 0..B {
        for i in 0..8 {
            s[k][i] = _mm512_loadu_si512(words[k][i].as_ptr() as *const _);
        }
    }
    let mut ptrs = [[ZERO.as_ptr(); LANES]; B];
    for k in 0..steps {
        let mut active = [0u16; B];
        for (l, m) in msgs.iter().enumerate() {
            let (set, lane) = (l / LANES, l % LANES);
            if k < m.len() / 64 {
                ptrs[set][lane] = m.as_ptr().add(64 * k);
                active[set] |= 1 << lane;
            } else {
                ptrs[set][lane] = ZERO.as_ptr();
            }
        }
        compress16(&mut s, &ptrs, &active);
    }
    for k in 0..B {
        for i in 0..8 {
            _mm512_storeu_si512(words[k][i].as_mut_ptr() as *mut _, s[k][i]);
        }
    }
    for (l, st) in v.iter_mut().enumerate() {
        for i in 0..8 {
            st[i] = words[l / LANES][i][l % LANES];
        }
    }
}
