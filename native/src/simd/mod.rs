//! SIMD kernels for SM4 and SM3 with runtime CPU dispatch and an always-compiled portable path.
//!
//! - [`sm4`]: `Sm4Keys`, ECB core, CTR, CBC, SM4-GCM. Backends: AVX-512 + GFNI (64 blocks per
//!   step, VPCLMULQDQ GHASH), AES-NI + AVX2 (64 blocks per step), AES-NI + SSSE3 (16 blocks per
//!   step), RustCrypto `sm4` (portable).
//!   The SIMD S-boxes are constant time (no table lookups).
//! - [`sm3`]: single stream (`digest`, incremental `Hasher`: assembly with BMI2 rounds and an
//!   AVX-512VL message schedule, or plain Rust, or RustCrypto) and multi-buffer (`digest_many`:
//!   16 or 32 lanes of AVX-512, 8 lanes of AVX2, or serial).
//!
//! Every backend is also callable explicitly (`*_with(backend, ...)`) for tests and benchmarks;
//! each `unsafe` kernel is called only after its CPU features were checked.
//!
//! `BIDKERNEL_FORCE_PORTABLE=1` forces the portable paths (read once per process).

pub mod sm3;
pub(crate) mod sm3_scalar;
pub mod sm4;
mod sm4_sbox;

#[cfg(target_arch = "x86_64")]
mod ghash_clmul;
#[cfg(target_arch = "x86_64")]
mod sm3_asm;
#[cfg(target_arch = "x86_64")]
mod sm3_mb;
#[cfg(target_arch = "x86_64")]
mod sm3_mb_avx2;
#[cfg(target_arch = "x86_64")]
mod sm4_aesni;
#[cfg(target_arch = "x86_64")]
mod sm4_avx2;
#[cfg(target_arch = "x86_64")]
mod sm4_gfni;

#[cfg(test)]
mod sm3_tests;
#[cfg(test)]
pub(crate) mod sm4_tests;
