//! GHASH (NIST SP 800-38D §6.4) with carry-less multiplication: 16 blocks per step with
//! VPCLMULQDQ on AVX-512, else 8 blocks per step with 128-bit PCLMULQDQ; one reduction per step.
//!
//! We work in the POLYVAL domain (RFC 8452 Appendix A): with `ByteReverse` of every block read
//! as a little-endian 128-bit integer, `GHASH(H, X…) = ByteReverse(POLYVAL(mulX(ByteReverse(H)),
//! ByteReverse(X)…))`, and POLYVAL's product `dot(a, b) = a·b·x⁻¹²⁸ mod Q`,
//! `Q = x¹²⁸ + x¹²⁷ + x¹²⁶ + x¹²¹ + 1`, needs no bit shifts: carry-less multiply, then a
//! Montgomery reduction by x¹²⁸ in two 64-bit steps. Each step cancels the low 64 bits `l` by
//! adding `l·Q` (Q ≡ 1 mod x⁶⁴) and dividing by x⁶⁴, which leaves `swap_halves ⊕ clmul(l, C)`
//! with `C = x⁶³ + x⁶² + x⁵⁷` (`0xc200…00`).
//!
//! Aggregation: with `Hₖ = dot(Hₖ₋₁, H)`, sixteen blocks fold as `Y ← Σ dot(Xᵢ, H₁₆₋ᵢ)` with
//! `X₀ ⊕= Y`; the 256-bit partial products are summed unreduced and reduced once.
//! Carry-less multiplication runs in constant time.

#![allow(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use zeroize::Zeroize;

/// Whether this CPU can run this module (the 128-bit kernel; [`wide_available`] adds the
/// 512-bit one).
pub fn available() -> bool {
    crate::cpu::has("pclmulqdq") && crate::cpu::has("ssse3")
}

/// Whether this CPU can run the 512-bit kernel (16 blocks per step).
pub fn wide_available() -> bool {
    available()
        && crate::cpu::has("avx512f")
        && crate::cpu::has("avx512bw")
        && crate::cpu::has("vpclmulqdq")
}

const C_RED: u64 = 0xc200_0000_0000_0000;

#[inline]
#[target_feature(enable = "pclmulqdq,sse2")]
unsafe fn reduce(p0: __m128i, p1: __m128i) -> __m128i {
    let c = _mm_set_epi64x(0, C_RED as i64);
    let t = _mm_clmulepi64_si128::<0x00>(p0, c);
    let l1 = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(p0), t);
    let t2 = _mm_clmulepi64_si128::<0x00>(l1, c);
    _mm_xor_si128(_mm_xor_si128(p1, _mm_shuffle_epi32::<0x4e>(l1)), t2)
}

#[inline]
#[target_feature(enable = "pclmulqdq,sse2")]
unsafe fn dot(a: __m128i, b: __m128i) -> __m128i {
    let lo = _mm_clmulepi64_si128::<0x00>(a, b);
    let hi = _mm_clmulepi64_si128::<0x11>(a, b);
    let mid = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x01>(a, b),
        _mm_clmulepi64_si128::<0x10>(a, b),
    );
    reduce(
        _mm_xor_si128(lo, _mm_slli_si128::<8>(mid)),
        _mm_xor_si128(hi, _mm_srli_si128::<8>(mid)),
    )
}

#[inline]
fn to_m128(x: u128) -> __m128i {
    // SAFETY: plain bit cast between two 16-byte plain-data types.
    unsafe { core::mem::transmute::<u128, __m128i>(x) }
}

#[inline]
fn from_m128(x: __m128i) -> u128 {
    // SAFETY: plain bit cast between two 16-byte plain-data types.
    unsafe { core::mem::transmute::<__m128i, u128>(x) }
}

/// GHASH state keyed by `H`. Key powers are zeroized on drop.
pub struct Ghash {
    y: u128,
    /// `hpow[k] = H_{k+1}` in the POLYVAL domain.
    hpow: [u128; 16],
    /// The 512-bit kernel runs (checked once, at construction).
    wide: bool,
}

impl Drop for Ghash {
    fn drop(&mut self) {
        self.hpow.zeroize();
        self.y.zeroize();
    }
}

impl Ghash {
    /// # Safety
    /// The CPU must support the features in [`available`].
    #[target_feature(enable = "pclmulqdq,sse2")]
    pub unsafe fn new(h: &[u8; 16]) -> Self {
        // mulX_POLYVAL(ByteReverse(H)).
        let v = u128::from_be_bytes(*h);
        let mut hx = v << 1;
        if v >> 127 == 1 {
            hx ^= 0xc200_0000_0000_0000_0000_0000_0000_0001;
        }
        let mut hpow = [0u128; 16];
        hpow[0] = hx;
        for k in 1..16 {
            hpow[k] = from_m128(dot(to_m128(hpow[k - 1]), to_m128(hx)));
        }
        hx.zeroize();
        Ghash {
            y: 0,
            hpow,
            wide: wide_available(),
        }
    }

    /// Absorbs whole blocks.
    ///
    /// # Safety
    /// The CPU must support the features in [`available`].
    pub unsafe fn update_blocks(&mut self, data: &[u8]) {
        if self.wide {
            // SAFETY: `wide` is set only where `wide_available()` held.
            unsafe { self.update_blocks_wide(data) }
        } else {
            // SAFETY: the caller guarantees `available()`.
            unsafe { self.update_blocks_narrow(data) }
        }
    }

    /// Eight blocks per step in 128-bit registers: `Y ← Σ dot(Xᵢ, H₈₋ᵢ)`, one reduction.
    #[target_feature(enable = "pclmulqdq,ssse3")]
    unsafe fn update_blocks_narrow(&mut self, data: &[u8]) {
        debug_assert_eq!(data.len() % 16, 0);
        let rev = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut y = to_m128(self.y);
        let mut chunks = data.chunks_exact(128);
        for c in &mut chunks {
            let p = c.as_ptr();
            let mut lo = _mm_setzero_si128();
            let mut hi = _mm_setzero_si128();
            let mut mid = _mm_setzero_si128();
            for i in 0..8 {
                let mut x = _mm_shuffle_epi8(_mm_loadu_si128(p.add(16 * i) as *const _), rev);
                if i == 0 {
                    x = _mm_xor_si128(x, y);
                }
                let k = to_m128(self.hpow[7 - i]);
                lo = _mm_xor_si128(lo, _mm_clmulepi64_si128::<0x00>(x, k));
                hi = _mm_xor_si128(hi, _mm_clmulepi64_si128::<0x11>(x, k));
                mid = _mm_xor_si128(
                    mid,
                    _mm_xor_si128(
                        _mm_clmulepi64_si128::<0x01>(x, k),
                        _mm_clmulepi64_si128::<0x10>(x, k),
                    ),
                );
            }
            y = reduce(
                _mm_xor_si128(lo, _mm_slli_si128::<8>(mid)),
                _mm_xor_si128(hi, _mm_srli_si128::<8>(mid)),
            );
        }
        let h1 = to_m128(self.hpow[0]);
        for b in chunks.remainder().chunks_exact(16) {
            let x = _mm_shuffle_epi8(_mm_loadu_si128(b.as_ptr() as *const _), rev);
            y = dot(_mm_xor_si128(y, x), h1);
        }
        self.y = from_m128(y);
    }

    #[target_feature(enable = "avx512f,avx512bw,vpclmulqdq,pclmulqdq")]
    unsafe fn update_blocks_wide(&mut self, data: &[u8]) {
        debug_assert_eq!(data.len() % 16, 0);
        let rev = _mm512_broadcast_i32x4(_mm_set_epi8(
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        ));
        let mut y = to_m128(self.y);
        let mut chunks = data.chunks_exact(256);
        if chunks.len() > 0 {
            // Lane l of key register i multiplies block 4i + l: H_{16-(4i+l)}.
            let hp = &self.hpow;
            let k = [key4(hp, 0), key4(hp, 1), key4(hp, 2), key4(hp, 3)];
            for c in &mut chunks {
                let p = c.as_ptr();
                let mut lo = _mm512_setzero_si512();
                let mut hi = _mm512_setzero_si512();
                let mut mid = _mm512_setzero_si512();
                for (i, ki) in k.iter().enumerate() {
                    let mut x =
                        _mm512_shuffle_epi8(_mm512_loadu_si512(p.add(64 * i) as *const _), rev);
                    if i == 0 {
                        x = _mm512_xor_si512(x, _mm512_zextsi128_si512(y));
                    }
                    lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128::<0x00>(x, *ki));
                    hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128::<0x11>(x, *ki));
                    mid = _mm512_ternarylogic_epi64::<0x96>(
                        mid,
                        _mm512_clmulepi64_epi128::<0x01>(x, *ki),
                        _mm512_clmulepi64_epi128::<0x10>(x, *ki),
                    );
                }
                let lo = fold4(lo);
                let hi = fold4(hi);
                let mid = fold4(mid);
                y = reduce(
                    _mm_xor_si128(lo, _mm_slli_si128::<8>(mid)),
                    _mm_xor_si128(hi, _mm_srli_si128::<8>(mid)),
                );
            }
        }
        let h1 = to_m128(self.hpow[0]);
        let rev128 = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for b in chunks.remainder().chunks_exact(16) {
            let x = _mm_shuffle_epi8(_mm_loadu_si128(b.as_ptr() as *const _), rev128);
            y = dot(_mm_xor_si128(y, x), h1);
        }
        self.y = from_m128(y);
    }

    /// Absorbs `data`, zero-padding a final partial block (as GCM does for AAD and ciphertext).
    ///
    /// # Safety
    /// The CPU must support the features in [`available`].
    pub unsafe fn update_padded(&mut self, data: &[u8]) {
        let full = data.len() / 16 * 16;
        self.update_blocks(&data[..full]);
        if full < data.len() {
            let mut b = [0u8; 16];
            b[..data.len() - full].copy_from_slice(&data[full..]);
            self.update_blocks(&b);
        }
    }

    /// The GHASH value.
    pub fn finalize(&self) -> [u8; 16] {
        self.y.to_be_bytes()
    }
}

/// Key register `i`: lane `l` holds `H_{16-(4i+l)}`, the power that block `4i + l` of a
/// 16-block step is multiplied by.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn key4(hp: &[u128; 16], i: usize) -> __m512i {
    let b = 15 - 4 * i;
    _mm512_set_epi64(
        (hp[b - 3] >> 64) as i64,
        hp[b - 3] as i64,
        (hp[b - 2] >> 64) as i64,
        hp[b - 2] as i64,
        (hp[b - 1] >> 64) as i64,
        hp[b - 1] as i64,
        (hp[b] >> 64) as i64,
        hp[b] as i64,
    )
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn fold4(x: __m512i) -> __m128i {
    let a = _mm512_castsi512_si256(x);
    let b = _mm512_extracti64x4_epi64::<1>(x);
    let s = _mm256_xor_si256(a, b);
    _mm_xor_si128(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::sm4_tests::Rng;
    use ghash::universal_hash::UniversalHash;

    #[test]
    fn matches_rustcrypto_ghash_on_random_inputs() {
        if !available() {
            return;
        }
        let mut rng = Rng::new(21);
        for i in 0..400 {
            let h = rng.arr16();
            let n = if i < 100 { i * 3 } else { rng.below(3000) };
            let data = rng.bytes(n);
            let mut r = ghash::GHash::new(&h.into());
            r.update_padded(&data);
            let want: [u8; 16] = r.finalize().into();
            for wide in [false, true] {
                if wide && !wide_available() {
                    continue;
                }
                // SAFETY: features checked above.
                let got = unsafe {
                    let mut g = Ghash::new(&h);
                    g.wide = wide;
                    // Split at a random block boundary to exercise state carry-over.
                    let cut = rng.below(n / 16 + 1) * 16;
                    g.update_blocks(&data[..cut]);
                    g.update_padded(&data[cut..]);
                    g.finalize()
                };
                assert_eq!(got, want, "n={n} wide={wide}");
            }
        }
    }
}
