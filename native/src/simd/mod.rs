//! SIMD kernels for SM4 and SM3 with runtime CPU dispatch and an always-compiled portable path.
//!
//! - [`sm4`]: `Sm4Keys`, ECB core, CTR, CBC, SM4-GCM; AVX-512 + GFNI fast path (constant time,
//!   no table lookups), RustCrypto `sm4` as the portable path.
//! - [`sm3`]: single-stream and multi-buffer SM3.
//!
//! `BIDKERNEL_FORCE_PORTABLE=1` forces the portable paths (read once per process).

pub mod sm3;
mod sm3_scalar;
pub mod sm4;
mod sm4_sbox;

#[cfg(target_arch = "x86_64")]
mod ghash_clmul;
#[cfg(target_arch = "x86_64")]
mod sm3_mb;
#[cfg(target_arch = "x86_64")]
mod sm3_mb_avx2;
#[cfg(target_arch = "x86_64")]
mod sm4_aesni;
#[cfg(target_arch = "x86_64")]
mod sm4_gfni;

#[cfg(test)]
mod sm3_tests;
#[cfg(test)]
mod sm4_tests;
