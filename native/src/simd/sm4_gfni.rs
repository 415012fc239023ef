//! SM4 on AVX-512 + GFNI: 16 blocks per 512-bit register set, 64 blocks per main-loop step.
//!
//! Layout (64 blocks per main-loop step, four independent groups): four registers `x0..x3` hold word `k` (big-endian, GB/T 32907 §5) of 16 blocks in
//! their 32-bit lanes. Lane `4l + r` of the word registers holds block `4r + l` of the group
//! (the result of a 4×4 dword transpose inside each 128-bit lane, see [`load_group`]).
//!
//! The S-box `τ` is one `vgf2p8affineqb` plus one `vgf2p8affineinvqb` (matrices derived in
//! [`super::sm4_sbox`]); the linear map `L(B) = B ⊕ B<<<2 ⊕ B<<<10 ⊕ B<<<18 ⊕ B<<<24` is
//! evaluated as `B ⊕ B<<<24 ⊕ (B ⊕ B<<<8 ⊕ B<<<16)<<<2` with `vprold` and `vpternlogd`.
//! No table lookups: constant time with respect to keys and data.
//!
//! Every function here is `unsafe` and requires AVX-512F, AVX-512BW, AVX-512VL and GFNI;
//! callers check with [`available`] first.

#![allow(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::sm4_sbox::{POST_C, POST_GFNI, PRE_C, PRE_GFNI};

/// Whether this CPU can run the kernels of this module.
pub fn available() -> bool {
    crate::cpu::has("avx512f")
        && crate::cpu::has("avx512bw")
        && crate::cpu::has("avx512vl")
        && crate::cpu::has("gfni")
}

/// Bytes per 16-block group.
const GROUP: usize = 256;
/// Groups per main-loop step: independent dependency chains to cover the S-box latency.
const NG: usize = 4;

#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn sbox(x: __m512i) -> __m512i {
    let pre = _mm512_set1_epi64(PRE_GFNI as i64);
    let post = _mm512_set1_epi64(POST_GFNI as i64);
    let y = _mm512_gf2p8affine_epi64_epi8::<{ PRE_C as i32 }>(x, pre);
    _mm512_gf2p8affineinv_epi64_epi8::<{ POST_C as i32 }>(y, post)
}

/// `x0 ⊕ T(t)` with `t = x1 ⊕ x2 ⊕ x3 ⊕ rk` already combined by the caller.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn round(x0: __m512i, t: __m512i) -> __m512i {
    let b = sbox(t);
    let m =
        _mm512_ternarylogic_epi32::<0x96>(b, _mm512_rol_epi32::<8>(b), _mm512_rol_epi32::<16>(b));
    let y = _mm512_ternarylogic_epi32::<0x96>(x0, b, _mm512_rol_epi32::<24>(b));
    _mm512_xor_si512(y, _mm512_rol_epi32::<2>(m))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(a, b, c)
}

/// 32 rounds on `G` independent groups (interleaved for instruction-level parallelism).
/// Returns the groups in output word order `(X35, X34, X33, X32)`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn rounds<const G: usize>(x: &mut [[__m512i; 4]; G], rk: &[u32; 32]) {
    // Rounds 4i..4i+3 share x2 ⊕ x3 (rounds 0, 1) and x0' ⊕ x1' (rounds 2, 3): six
    // three-input XORs per four rounds instead of eight.
    for r in (0..32).step_by(4) {
        let k0 = _mm512_set1_epi32(rk[r] as i32);
        let k1 = _mm512_set1_epi32(rk[r + 1] as i32);
        let k2 = _mm512_set1_epi32(rk[r + 2] as i32);
        let k3 = _mm512_set1_epi32(rk[r + 3] as i32);
        for g in x.iter_mut() {
            let u = _mm512_xor_si512(g[2], g[3]);
            g[0] = round(g[0], xor3(g[1], u, k0));
            g[1] = round(g[1], xor3(u, g[0], k1));
            let v = _mm512_xor_si512(g[0], g[1]);
            g[2] = round(g[2], xor3(g[3], v, k2));
            g[3] = round(g[3], xor3(v, g[2], k3));
        }
    }
    for g in x.iter_mut() {
        g.reverse();
    }
}

/// 4×4 transpose of dwords inside each 128-bit lane; an involution.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn transpose(r: [__m512i; 4]) -> [__m512i; 4] {
    let t0 = _mm512_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm512_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm512_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm512_unpackhi_epi32(r[2], r[3]);
    [
        _mm512_unpacklo_epi64(t0, t2),
        _mm512_unpackhi_epi64(t0, t2),
        _mm512_unpacklo_epi64(t1, t3),
        _mm512_unpackhi_epi64(t1, t3),
    ]
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn bswap32(x: __m512i) -> __m512i {
    let m = _mm512_broadcast_i32x4(_mm_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
    ));
    _mm512_shuffle_epi8(x, m)
}

/// Loads 16 blocks (256 bytes at `p`) into word registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn load_group(p: *const u8) -> [__m512i; 4] {
    let r = [
        bswap32(_mm512_loadu_si512(p as *const _)),
        bswap32(_mm512_loadu_si512(p.add(64) as *const _)),
        bswap32(_mm512_loadu_si512(p.add(128) as *const _)),
        bswap32(_mm512_loadu_si512(p.add(192) as *const _)),
    ];
    transpose(r)
}

/// Converts word registers back to 4 registers of byte-order blocks.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn to_bytes(x: [__m512i; 4]) -> [__m512i; 4] {
    let t = transpose(x);
    [bswap32(t[0]), bswap32(t[1]), bswap32(t[2]), bswap32(t[3])]
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn store_group(p: *mut u8, x: [__m512i; 4]) {
    let b = to_bytes(x);
    for (i, v) in b.iter().enumerate() {
        _mm512_storeu_si512(p.add(64 * i) as *mut _, *v);
    }
}

/// Encrypts (or, with reversed round keys, decrypts) `data` in place; `data.len()` must be a
/// multiple of 16.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and GFNI ([`available`]).
#[target_feature(enable = "avx512f,avx512bw,gfni")]
pub unsafe fn crypt_ecb(rk: &[u32; 32], data: &mut [u8]) {
    debug_assert_eq!(data.len() % 16, 0);
    let mut chunks = data.chunks_exact_mut(NG * GROUP);
    for c in &mut chunks {
        let p = c.as_mut_ptr();
        let mut x = [[_mm512_setzero_si512(); 4]; NG];
        for (g, xg) in x.iter_mut().enumerate() {
            *xg = load_group(p.add(g * GROUP));
        }
        rounds(&mut x, rk);
        for (g, xg) in x.iter().enumerate() {
            store_group(p.add(g * GROUP), *xg);
        }
    }
    let rest = chunks.into_remainder();
    let mut chunks = rest.chunks_exact_mut(GROUP);
    for c in &mut chunks {
        let p = c.as_mut_ptr();
        let mut x = [load_group(p)];
        rounds(&mut x, rk);
        store_group(p, x[0]);
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; GROUP];
        buf[..rest.len()].copy_from_slice(rest);
        let mut x = [load_group(buf.as_ptr())];
        rounds(&mut x, rk);
        store_group(buf.as_mut_ptr(), x[0]);
        rest.copy_from_slice(&buf[..rest.len()]);
    }
}

/// Lane `j` of a word register holds block `IDX[j]` of its group.
const IDX: [u32; 16] = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];

/// Counter blocks `ctr + base .. ctr + base + 16` in word registers. With `wrap32`, only the low
/// 32 bits count (GCM's inc32); otherwise the whole 128-bit block (SP 800-38A).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn counter_group(ctr: u128, base: u32, wrap32: bool) -> [__m512i; 4] {
    let lo = ctr as u32;
    let fits = wrap32 || (lo as u64) + (base as u64) + 15 <= u32::MAX as u64;
    if fits {
        let idx = _mm512_loadu_si512(IDX.as_ptr() as *const _);
        [
            _mm512_set1_epi32((ctr >> 96) as u32 as i32),
            _mm512_set1_epi32((ctr >> 64) as u32 as i32),
            _mm512_set1_epi32((ctr >> 32) as u32 as i32),
            _mm512_add_epi32(_mm512_set1_epi32(lo.wrapping_add(base) as i32), idx),
        ]
    } else {
        let mut w = [[0u32; 16]; 4];
        for (j, &b) in IDX.iter().enumerate() {
            let c = ctr.wrapping_add((base + b) as u128);
            for (k, wk) in w.iter_mut().enumerate() {
                wk[j] = (c >> (96 - 32 * k)) as u32;
            }
        }
        [
            _mm512_loadu_si512(w[0].as_ptr() as *const _),
            _mm512_loadu_si512(w[1].as_ptr() as *const _),
            _mm512_loadu_si512(w[2].as_ptr() as *const _),
            _mm512_loadu_si512(w[3].as_ptr() as *const _),
        ]
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn xor_group(p: *mut u8, ks: [__m512i; 4]) {
    let b = to_bytes(ks);
    for (i, v) in b.iter().enumerate() {
        let q = p.add(64 * i) as *mut __m512i;
        _mm512_storeu_si512(
            q as *mut _,
            _mm512_xor_si512(_mm512_loadu_si512(q as *const _), *v),
        );
    }
}

/// Advances a counter block by `n` blocks.
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
/// The CPU must support AVX-512F, AVX-512BW and GFNI ([`available`]).
#[target_feature(enable = "avx512f,avx512bw,gfni")]
pub unsafe fn ctr_xor(rk: &[u32; 32], mut ctr: u128, wrap32: bool, data: &mut [u8]) {
    let mut chunks = data.chunks_exact_mut(NG * GROUP);
    for c in &mut chunks {
        let p = c.as_mut_ptr();
        let mut x = [[_mm512_setzero_si512(); 4]; NG];
        for (g, xg) in x.iter_mut().enumerate() {
            *xg = counter_group(ctr, 16 * g as u32, wrap32);
        }
        rounds(&mut x, rk);
        for (g, xg) in x.iter().enumerate() {
            xor_group(p.add(g * GROUP), *xg);
        }
        ctr = advance(ctr, 16 * NG as u32, wrap32);
    }
    let rest = chunks.into_remainder();
    let mut chunks = rest.chunks_exact_mut(GROUP);
    for c in &mut chunks {
        let mut x = [counter_group(ctr, 0, wrap32)];
        rounds(&mut x, rk);
        xor_group(c.as_mut_ptr(), x[0]);
        ctr = advance(ctr, 16, wrap32);
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; GROUP];
        buf[..rest.len()].copy_from_slice(rest);
        let mut x = [counter_group(ctr, 0, wrap32)];
        rounds(&mut x, rk);
        xor_group(buf.as_mut_ptr(), x[0]);
        rest.copy_from_slice(&buf[..rest.len()]);
    }
}

/// CBC decryption in place, 64 blocks in parallel; `iv` is updated to the last ciphertext block.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and GFNI ([`available`]).
#[target_feature(enable = "avx512f,avx512bw,gfni")]
pub unsafe fn cbc_decrypt(rk_dec: &[u32; 32], iv: &mut [u8; 16], data: &mut [u8]) {
    debug_assert_eq!(data.len() % 16, 0);
    // prev[0..16] = previous ciphertext block, prev[16..] = this step's ciphertext.
    let mut prev = [0u8; NG * GROUP + 16];
    for c in data.chunks_mut(NG * GROUP) {
        let n = c.len();
        prev[..16].copy_from_slice(iv);
        prev[16..16 + n].copy_from_slice(c);
        iv.copy_from_slice(&prev[n..n + 16]);
        let p = c.as_mut_ptr();
        if n == NG * GROUP {
            let mut x = [[_mm512_setzero_si512(); 4]; NG];
            for (g, xg) in x.iter_mut().enumerate() {
                *xg = load_group(p.add(g * GROUP));
            }
            rounds(&mut x, rk_dec);
            let q = prev.as_ptr();
            for (g, xg) in x.iter().enumerate() {
                let b = to_bytes(*xg);
                for (i, v) in b.iter().enumerate() {
                    let off = g * GROUP + 64 * i;
                    let chain = _mm512_loadu_si512(q.add(off) as *const _);
                    _mm512_storeu_si512(p.add(off) as *mut _, _mm512_xor_si512(*v, chain));
                }
            }
        } else {
            crypt_ecb(rk_dec, c);
            for (d, s) in c.iter_mut().zip(&prev[..n]) {
                *d ^= s;
            }
        }
    }
}

/// The S-box on the four bytes of a word with 128-bit GFNI (key schedule).
#[inline]
#[target_feature(enable = "gfni,sse2")]
unsafe fn tau(x: u32) -> u32 {
    let pre = _mm_set1_epi64x(PRE_GFNI as i64);
    let post = _mm_set1_epi64x(POST_GFNI as i64);
    let v = _mm_cvtsi32_si128(x as i32);
    let y = _mm_gf2p8affine_epi64_epi8::<{ PRE_C as i32 }>(v, pre);
    _mm_cvtsi128_si32(_mm_gf2p8affineinv_epi64_epi8::<{ POST_C as i32 }>(y, post)) as u32
}

/// The SM4 S-box on each byte of `x`, constant time (GFNI). Used by the key schedule.
///
/// # Safety
/// The CPU must support GFNI.
#[target_feature(enable = "gfni,sse2")]
pub unsafe fn sbox_word(x: u32) -> u32 {
    tau(x)
}

/// One round on a single block held in lane 0 of four 128-bit registers (AVX-512VL forms of
/// `vprold`/`vpternlogd`): no general-purpose/vector transfers on the serial chain.
#[inline]
#[target_feature(enable = "avx512f,avx512vl,gfni")]
unsafe fn round1(x0: __m128i, x1: __m128i, x2: __m128i, x3: __m128i, rk: __m128i) -> __m128i {
    let pre = _mm_set1_epi64x(PRE_GFNI as i64);
    let post = _mm_set1_epi64x(POST_GFNI as i64);
    let t = _mm_ternarylogic_epi32::<0x96>(x1, x2, x3);
    let y = _mm_gf2p8affine_epi64_epi8::<{ PRE_C as i32 }>(_mm_xor_si128(t, rk), pre);
    let b = _mm_gf2p8affineinv_epi64_epi8::<{ POST_C as i32 }>(y, post);
    let m = _mm_ternarylogic_epi32::<0x96>(b, _mm_rol_epi32::<8>(b), _mm_rol_epi32::<16>(b));
    let z = _mm_ternarylogic_epi32::<0x96>(x0, b, _mm_rol_epi32::<24>(b));
    _mm_xor_si128(z, _mm_rol_epi32::<2>(m))
}

/// CBC encryption in place, serial, one block at a time in vector registers; `iv` becomes the
/// last ciphertext block.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512VL and GFNI.
#[target_feature(enable = "avx512f,avx512vl,gfni")]
pub unsafe fn cbc_encrypt_vl(rk: &[u32; 32], iv: &mut [u8; 16], data: &mut [u8]) {
    debug_assert_eq!(data.len() % 16, 0);
    let bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    let mut k = [_mm_setzero_si128(); 32];
    for (kv, r) in k.iter_mut().zip(rk.iter()) {
        *kv = _mm_set1_epi32(*r as i32);
    }
    // Chain kept in byte order in one register.
    let mut chain = _mm_loadu_si128(iv.as_ptr() as *const _);
    for blk in data.chunks_exact_mut(16) {
        let p = blk.as_mut_ptr() as *mut __m128i;
        let v = _mm_shuffle_epi8(_mm_xor_si128(_mm_loadu_si128(p), chain), bswap);
        let mut x = [
            _mm_shuffle_epi32::<0x00>(v),
            _mm_shuffle_epi32::<0x55>(v),
            _mm_shuffle_epi32::<0xaa>(v),
            _mm_shuffle_epi32::<0xff>(v),
        ];
        for r in (0..32).step_by(4) {
            x[0] = round1(x[0], x[1], x[2], x[3], k[r]);
            x[1] = round1(x[1], x[2], x[3], x[0], k[r + 1]);
            x[2] = round1(x[2], x[3], x[0], x[1], k[r + 2]);
            x[3] = round1(x[3], x[0], x[1], x[2], k[r + 3]);
        }
        // Output words (X35, X34, X33, X32) = (x3, x2, x1, x0), each broadcast in its register.
        let lo = _mm_unpacklo_epi32(x[3], x[2]);
        let hi = _mm_unpacklo_epi32(x[1], x[0]);
        let out = _mm_shuffle_epi8(_mm_unpacklo_epi64(lo, hi), bswap);
        _mm_storeu_si128(p, out);
        chain = out;
    }
    _mm_storeu_si128(iv.as_mut_ptr() as *mut _, chain);
}
