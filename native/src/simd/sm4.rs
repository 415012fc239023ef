//! SM4 (GB/T 32907-2016) bulk kernels with runtime dispatch: ECB core, CTR (SP 800-38A, 128-bit
//! big-endian counter), CBC, and SM4-GCM (SP 800-38D with SM4 as the block cipher).
//!
//! Backends:
//! - [`Backend::Avx512Gfni`]: 64 blocks per step in AVX-512 registers, S-box by GFNI affine
//!   transforms (constant time, no tables); CBC encryption runs one block in 128-bit registers
//!   (AVX-512VL + GFNI), the key schedule's S-box uses 128-bit GFNI.
//! - [`Backend::Avx2AesNi`]: AES-NI + AVX2 for CPUs without GFNI, 64 blocks per step in 256-bit
//!   registers (`aesenclast` on each 128-bit half).
//! - [`Backend::AesNi`]: AES-NI + SSSE3 for CPUs without AVX2, 16 blocks per step.
//! - [`Backend::Portable`]: RustCrypto's `sm4` crate, block by block (table S-box).
//!
//! [`Backend::detect`] picks the fastest backend the CPU supports unless
//! `BIDKERNEL_FORCE_PORTABLE=1` is set (read once per process). Every operation also exists in a
//! `*_with(backend, ...)` form so tests and benchmarks can drive each backend explicitly.

use std::sync::OnceLock;

use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use sm4::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Block size in bytes.
pub const BLOCK_LEN: usize = 16;
/// SM4-GCM tag length in bytes (only full-length tags are produced and accepted).
pub const GCM_TAG_LEN: usize = 16;

/// Errors of the SM4 mode functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// ECB/CBC input is not a multiple of 16 bytes.
    NotBlockAligned,
    /// GCM nonce of length 0 (SP 800-38D requires at least one bit).
    InvalidNonce,
    /// GCM tag is not 16 bytes.
    InvalidTagLength,
    /// GCM input longer than 2^36 - 32 bytes (SP 800-38D §5.2.1.1).
    MessageTooLong,
    /// GCM tag mismatch; the buffer has been zeroed.
    AuthenticationFailed,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::NotBlockAligned => "SM4: input length is not a multiple of 16 bytes",
            Error::InvalidNonce => "SM4-GCM: empty nonce",
            Error::InvalidTagLength => "SM4-GCM: tag must be 16 bytes",
            Error::MessageTooLong => "SM4-GCM: message too long",
            Error::AuthenticationFailed => "SM4-GCM: authentication failed",
        })
    }
}

impl std::error::Error for Error {}

/// An SM4 implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// AVX-512F/BW/VL + GFNI.
    Avx512Gfni,
    /// AES-NI + AVX2 (S-box as for [`Backend::AesNi`], eight blocks per register).
    Avx2AesNi,
    /// AES-NI + SSSE3 (S-box through `aesenclast` and nibble shuffles).
    AesNi,
    /// RustCrypto `sm4` (portable Rust).
    Portable,
}

impl Backend {
    /// Stable name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Avx512Gfni => "avx512-gfni",
            Backend::Avx2AesNi => "aesni-avx2",
            Backend::AesNi => "aesni-ssse3",
            Backend::Portable => "portable",
        }
    }

    /// Whether this CPU can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512Gfni => super::sm4_gfni::available(),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2AesNi => super::sm4_avx2::available(),
            #[cfg(target_arch = "x86_64")]
            Backend::AesNi => super::sm4_aesni::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx512Gfni | Backend::Avx2AesNi | Backend::AesNi => false,
            Backend::Portable => true,
        }
    }

    /// All backends usable on this CPU, fastest first.
    pub fn available() -> Vec<Backend> {
        [
            Backend::Avx512Gfni,
            Backend::Avx2AesNi,
            Backend::AesNi,
            Backend::Portable,
        ]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
    }

    /// The backend the dispatching functions use (cached for the process).
    pub fn detect() -> Backend {
        static CHOSEN: OnceLock<Backend> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            if crate::cpu::portable_forced() {
                Backend::Portable
            } else {
                Backend::available()[0]
            }
        })
    }

    fn check(self) {
        assert!(
            self.is_available(),
            "SM4 backend {} not supported by this CPU",
            self.name()
        );
    }
}

/// Name of the backend the dispatching functions use.
pub fn active_backend() -> &'static str {
    Backend::detect().name()
}

/// `FK` of GB/T 32907 §7.3.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const FK: [u32; 4] = [0xa3b1_bac6, 0x56aa_3350, 0x677d_9197, 0xb270_22dc];

/// `CK_i`: byte `j` is `(4i + j) · 7 mod 256` (GB/T 32907 §7.3).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CK: [u32; 32] = {
    let mut ck = [0u32; 32];
    let mut i = 0;
    while i < 32 {
        let mut j = 0;
        while j < 4 {
            ck[i] |= (((4 * i + j) * 7 % 256) as u32) << (24 - 8 * j);
            j += 1;
        }
        i += 1;
    }
    ck
};

/// Expanded SM4 key: round keys for our kernels and RustCrypto's cipher for the portable path.
/// Round keys are zeroized on drop (RustCrypto's `Sm4` zeroizes its own).
pub struct Sm4Keys {
    rk_enc: [u32; 32],
    rk_dec: [u32; 32],
    portable: sm4::Sm4,
}

impl Drop for Sm4Keys {
    fn drop(&mut self) {
        self.rk_enc.zeroize();
        self.rk_dec.zeroize();
    }
}

impl core::fmt::Debug for Sm4Keys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sm4Keys(..)")
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn expand(key: &[u8; 16], sbox: impl Fn(u32) -> u32) -> [u32; 32] {
    let mut k = [0u32; 4];
    for i in 0..4 {
        k[i] = u32::from_be_bytes(key[4 * i..4 * i + 4].try_into().unwrap()) ^ FK[i];
    }
    let mut rk = [0u32; 32];
    for i in 0..32 {
        let b = sbox(k[(i + 1) % 4] ^ k[(i + 2) % 4] ^ k[(i + 3) % 4] ^ CK[i]);
        let t = k[i % 4] ^ b ^ b.rotate_left(13) ^ b.rotate_left(23);
        k[i % 4] = t;
        rk[i] = t;
    }
    k.zeroize();
    rk
}

impl Sm4Keys {
    /// Expands a 128-bit key. The key schedule's S-box is evaluated in constant time (GFNI or
    /// AES-NI); where neither exists no SIMD backend can run, so only RustCrypto's schedule is
    /// built (its own, table-based).
    pub fn new(key: &[u8; 16]) -> Self {
        #[cfg(target_arch = "x86_64")]
        let rk_enc = if crate::cpu::has("gfni") {
            // SAFETY: GFNI presence checked on the line above.
            expand(key, |x| unsafe { super::sm4_gfni::sbox_word(x) })
        } else if super::sm4_aesni::available() {
            // SAFETY: AES-NI and SSSE3 presence checked on the line above.
            expand(key, |x| unsafe { super::sm4_aesni::sbox_word(x) })
        } else {
            [0u32; 32] // unused: no SIMD backend is available on this CPU
        };
        #[cfg(not(target_arch = "x86_64"))]
        let rk_enc = [0u32; 32]; // unused: only the portable backend exists here
        let mut rk_dec = rk_enc;
        rk_dec.reverse();
        Sm4Keys {
            rk_enc,
            rk_dec,
            portable: sm4::Sm4::new(&Array::from(*key)),
        }
    }

    #[cfg(test)]
    pub(crate) fn round_keys(&self) -> &[u32; 32] {
        &self.rk_enc
    }

    #[cfg(test)]
    pub(crate) fn with_scalar_schedule(key: &[u8; 16]) -> [u32; 32] {
        expand(key, super::sm4_sbox::sbox_word_ct)
    }
}

// ---------------------------------------------------------------------------------------------
// Portable building blocks (RustCrypto).

fn as_block(b: &mut [u8]) -> &mut sm4::cipher::Block<sm4::Sm4> {
    b.try_into().expect("16-byte block")
}

fn portable_ecb(keys: &Sm4Keys, data: &mut [u8], decrypt: bool) {
    for b in data.chunks_exact_mut(16) {
        let blk = as_block(b);
        if decrypt {
            keys.portable.decrypt_block(blk);
        } else {
            keys.portable.encrypt_block(blk);
        }
    }
}

fn portable_ctr(keys: &Sm4Keys, mut ctr: u128, wrap32: bool, data: &mut [u8]) {
    let mut ks = [0u8; 16];
    for chunk in data.chunks_mut(16) {
        ks = ctr.to_be_bytes();
        keys.portable.encrypt_block(as_block(&mut ks));
        for (d, k) in chunk.iter_mut().zip(ks.iter()) {
            *d ^= k;
        }
        ctr = next_ctr(ctr, 1, wrap32);
    }
    ks.zeroize();
}

fn next_ctr(ctr: u128, n: u64, wrap32: bool) -> u128 {
    if wrap32 {
        (ctr & !0xffff_ffffu128) | ((ctr as u32).wrapping_add(n as u32) as u128)
    } else {
        ctr.wrapping_add(n as u128)
    }
}

// ---------------------------------------------------------------------------------------------
// Backend dispatch of the raw operations.

fn raw_ecb(backend: Backend, keys: &Sm4Keys, data: &mut [u8], decrypt: bool) {
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512Gfni => {
            let rk = if decrypt { &keys.rk_dec } else { &keys.rk_enc };
            // SAFETY: `backend.check()` (called by every public entry point) verified AVX-512F/BW + GFNI.
            unsafe { super::sm4_gfni::crypt_ecb(rk, data) }
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2AesNi => {
            let rk = if decrypt { &keys.rk_dec } else { &keys.rk_enc };
            // SAFETY: `backend.check()` verified AES-NI + AVX2.
            unsafe { super::sm4_avx2::crypt_ecb(rk, data) }
        }
        #[cfg(target_arch = "x86_64")]
        Backend::AesNi => {
            let rk = if decrypt { &keys.rk_dec } else { &keys.rk_enc };
            // SAFETY: `backend.check()` verified AES-NI + SSSE3.
            unsafe { super::sm4_aesni::crypt_ecb(rk, data) }
        }
        _ => portable_ecb(keys, data, decrypt),
    }
}

fn raw_ctr(backend: Backend, keys: &Sm4Keys, ctr: u128, wrap32: bool, data: &mut [u8]) {
    match backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `backend.check()` verified AVX-512F/BW + GFNI.
        Backend::Avx512Gfni => unsafe { super::sm4_gfni::ctr_xor(&keys.rk_enc, ctr, wrap32, data) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `backend.check()` verified AES-NI + AVX2.
        Backend::Avx2AesNi => unsafe { super::sm4_avx2::ctr_xor(&keys.rk_enc, ctr, wrap32, data) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `backend.check()` verified AES-NI + SSSE3.
        Backend::AesNi => unsafe { super::sm4_aesni::ctr_xor(&keys.rk_enc, ctr, wrap32, data) },
        _ => portable_ctr(keys, ctr, wrap32, data),
    }
}

fn encrypt_one(backend: Backend, keys: &Sm4Keys, block: &mut [u8; 16]) {
    raw_ecb(backend, keys, block, false)
}

// ---------------------------------------------------------------------------------------------
// ECB core.

/// Encrypts whole blocks in place (ECB core; callers build modes on it).
pub fn encrypt_blocks(keys: &Sm4Keys, data: &mut [u8]) -> Result<(), Error> {
    encrypt_blocks_with(Backend::detect(), keys, data)
}

/// Decrypts whole blocks in place (ECB core).
pub fn decrypt_blocks(keys: &Sm4Keys, data: &mut [u8]) -> Result<(), Error> {
    decrypt_blocks_with(Backend::detect(), keys, data)
}

/// [`encrypt_blocks`] on an explicit backend (panics if the CPU lacks it).
pub fn encrypt_blocks_with(backend: Backend, keys: &Sm4Keys, data: &mut [u8]) -> Result<(), Error> {
    backend.check();
    if !data.len().is_multiple_of(16) {
        return Err(Error::NotBlockAligned);
    }
    raw_ecb(backend, keys, data, false);
    Ok(())
}

/// [`decrypt_blocks`] on an explicit backend (panics if the CPU lacks it).
pub fn decrypt_blocks_with(backend: Backend, keys: &Sm4Keys, data: &mut [u8]) -> Result<(), Error> {
    backend.check();
    if !data.len().is_multiple_of(16) {
        return Err(Error::NotBlockAligned);
    }
    raw_ecb(backend, keys, data, true);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CTR.

/// CTR mode (NIST SP 800-38A): XORs `E(iv + counter_offset_blocks + i)` into `data`, the counter
/// being the whole 16-byte block as a 128-bit big-endian integer (wrapping mod 2^128). Any length;
/// `counter_offset_blocks` lets a caller process a stream in pieces (or in parallel) that start
/// on block boundaries.
pub fn ctr_xor(keys: &Sm4Keys, iv: &[u8; 16], counter_offset_blocks: u64, data: &mut [u8]) {
    ctr_xor_with(Backend::detect(), keys, iv, counter_offset_blocks, data)
}

/// [`ctr_xor`] on an explicit backend (panics if the CPU lacks it).
pub fn ctr_xor_with(
    backend: Backend,
    keys: &Sm4Keys,
    iv: &[u8; 16],
    counter_offset_blocks: u64,
    data: &mut [u8],
) {
    backend.check();
    let ctr = u128::from_be_bytes(*iv).wrapping_add(counter_offset_blocks as u128);
    raw_ctr(backend, keys, ctr, false, data);
}

// ---------------------------------------------------------------------------------------------
// CBC.

/// CBC encryption in place (no padding: `data.len()` must be a multiple of 16). Serial by
/// nature; the fast path is a single-block GFNI loop.
pub fn cbc_encrypt(keys: &Sm4Keys, iv: &[u8; 16], data: &mut [u8]) -> Result<(), Error> {
    cbc_encrypt_with(Backend::detect(), keys, iv, data)
}

/// CBC decryption in place (no padding), 64 blocks in parallel on the fast path.
pub fn cbc_decrypt(keys: &Sm4Keys, iv: &[u8; 16], data: &mut [u8]) -> Result<(), Error> {
    cbc_decrypt_with(Backend::detect(), keys, iv, data)
}

/// [`cbc_encrypt`] on an explicit backend (panics if the CPU lacks it).
pub fn cbc_encrypt_with(
    backend: Backend,
    keys: &Sm4Keys,
    iv: &[u8; 16],
    data: &mut [u8],
) -> Result<(), Error> {
    backend.check();
    if !data.len().is_multiple_of(16) {
        return Err(Error::NotBlockAligned);
    }
    let mut chain = *iv;
    match backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `backend.check()` verified AVX-512F/BW/VL + GFNI.
        Backend::Avx512Gfni => unsafe {
            super::sm4_gfni::cbc_encrypt_vl(&keys.rk_enc, &mut chain, data)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `backend.check()` verified AES-NI + SSSE3 (AVX2 implies SSSE3). CBC encryption
        // is serial: one block at a time, where 128-bit registers suffice.
        Backend::AesNi | Backend::Avx2AesNi => unsafe {
            super::sm4_aesni::cbc_encrypt(&keys.rk_enc, &mut chain, data)
        },
        _ => {
            for b in data.chunks_exact_mut(16) {
                for (x, c) in b.iter_mut().zip(chain.iter()) {
                    *x ^= c;
                }
                keys.portable.encrypt_block(as_block(b));
                chain.copy_from_slice(b);
            }
        }
    }
    Ok(())
}

/// [`cbc_decrypt`] on an explicit backend (panics if the CPU lacks it).
pub fn cbc_decrypt_with(
    backend: Backend,
    keys: &Sm4Keys,
    iv: &[u8; 16],
    data: &mut [u8],
) -> Result<(), Error> {
    backend.check();
    if !data.len().is_multiple_of(16) {
        return Err(Error::NotBlockAligned);
    }
    let mut chain = *iv;
    match backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `backend.check()` verified AVX-512F/BW + GFNI.
        Backend::Avx512Gfni => unsafe {
            super::sm4_gfni::cbc_decrypt(&keys.rk_dec, &mut chain, data)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `backend.check()` verified AES-NI + AVX2.
        Backend::Avx2AesNi => unsafe {
            super::sm4_avx2::cbc_decrypt(&keys.rk_dec, &mut chain, data)
        },
        Backend::AesNi => {
            // Parallel decryption of 64-block chunks, then the chaining XOR.
            let mut prev = [0u8; 1024 + 16];
            for c in data.chunks_mut(1024) {
                let n = c.len();
                prev[..16].copy_from_slice(&chain);
                prev[16..16 + n].copy_from_slice(c);
                chain.copy_from_slice(&prev[n..n + 16]);
                raw_ecb(backend, keys, c, true);
                for (d, s) in c.iter_mut().zip(&prev[..n]) {
                    *d ^= s;
                }
            }
        }
        _ => {
            for b in data.chunks_exact_mut(16) {
                let ct: [u8; 16] = (&*b).try_into().unwrap();
                keys.portable.decrypt_block(as_block(b));
                for (x, c) in b.iter_mut().zip(chain.iter()) {
                    *x ^= c;
                }
                chain = ct;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GCM.

/// Bytes of CTR output hashed per step: small enough to stay in L1 between the two passes.
const GCM_CHUNK: usize = 8 * 1024;
/// SP 800-38D §5.2.1.1: plaintext at most 2^39 - 256 bits.
const GCM_MAX_LEN: u64 = (1 << 36) - 32;

/// GHASH: our carry-less-multiplication kernel (512-bit VPCLMULQDQ or 128-bit PCLMULQDQ) on the
/// SIMD backends, RustCrypto's on the portable one.
enum Hasher {
    Crate(GHash),
    #[cfg(target_arch = "x86_64")]
    Clmul(Box<super::ghash_clmul::Ghash>),
}

impl Hasher {
    fn new(backend: Backend, h: &[u8; 16]) -> Self {
        #[cfg(target_arch = "x86_64")]
        if backend != Backend::Portable && super::ghash_clmul::available() {
            // SAFETY: PCLMULQDQ presence checked by `available()` on the line above.
            return Hasher::Clmul(Box::new(unsafe { super::ghash_clmul::Ghash::new(h) }));
        }
        let _ = backend;
        Hasher::Crate(GHash::new(&ghash::Key::from(*h)))
    }

    fn update_padded(&mut self, data: &[u8]) {
        match self {
            Hasher::Crate(g) => g.update_padded(data),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: this variant is only constructed after `ghash_clmul::available()`.
            Hasher::Clmul(g) => unsafe { g.update_padded(data) },
        }
    }

    fn finalize(self) -> [u8; 16] {
        match self {
            Hasher::Crate(g) => g.finalize().into(),
            #[cfg(target_arch = "x86_64")]
            Hasher::Clmul(g) => g.finalize(),
        }
    }
}

struct GcmState {
    ghash: Hasher,
    j0: u128,
}

fn gcm_init(backend: Backend, keys: &Sm4Keys, nonce: &[u8], aad: &[u8]) -> Result<GcmState, Error> {
    if nonce.is_empty() {
        return Err(Error::InvalidNonce);
    }
    let mut h = [0u8; 16];
    encrypt_one(backend, keys, &mut h);
    let j0 = if nonce.len() == 12 {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(nonce);
        b[15] = 1;
        u128::from_be_bytes(b)
    } else {
        let mut g = Hasher::new(backend, &h);
        g.update_padded(nonce);
        let mut len = [0u8; 16];
        len[8..].copy_from_slice(&((nonce.len() as u64) * 8).to_be_bytes());
        g.update_padded(&len);
        u128::from_be_bytes(g.finalize())
    };
    let mut ghash = Hasher::new(backend, &h);
    h.zeroize();
    ghash.update_padded(aad);
    Ok(GcmState { ghash, j0 })
}

fn gcm_finish(
    backend: Backend,
    keys: &Sm4Keys,
    st: GcmState,
    aad_len: usize,
    len: usize,
) -> [u8; 16] {
    let GcmState { mut ghash, j0 } = st;
    let mut lens = [0u8; 16];
    lens[..8].copy_from_slice(&((aad_len as u64) * 8).to_be_bytes());
    lens[8..].copy_from_slice(&((len as u64) * 8).to_be_bytes());
    ghash.update_padded(&lens);
    let s: [u8; 16] = ghash.finalize();
    let mut tag = j0.to_be_bytes();
    encrypt_one(backend, keys, &mut tag);
    for (t, x) in tag.iter_mut().zip(s.iter()) {
        *t ^= x;
    }
    tag
}

/// SM4-GCM encryption in place; returns the 16-byte tag. Any nonce length >= 1 byte (12 is
/// the efficient and recommended one).
pub fn gcm_seal(
    keys: &Sm4Keys,
    nonce: &[u8],
    aad: &[u8],
    data: &mut [u8],
) -> Result<[u8; 16], Error> {
    gcm_seal_with(Backend::detect(), keys, nonce, aad, data)
}

/// SM4-GCM decryption in place with constant-time tag check. On failure the buffer is zeroed
/// (no unauthenticated plaintext is released) and [`Error::AuthenticationFailed`] returned.
pub fn gcm_open(
    keys: &Sm4Keys,
    nonce: &[u8],
    aad: &[u8],
    data: &mut [u8],
    tag: &[u8],
) -> Result<(), Error> {
    gcm_open_with(Backend::detect(), keys, nonce, aad, data, tag)
}

/// [`gcm_seal`] on an explicit backend (panics if the CPU lacks it).
pub fn gcm_seal_with(
    backend: Backend,
    keys: &Sm4Keys,
    nonce: &[u8],
    aad: &[u8],
    data: &mut [u8],
) -> Result<[u8; 16], Error> {
    backend.check();
    if data.len() as u64 > GCM_MAX_LEN {
        return Err(Error::MessageTooLong);
    }
    let mut st = gcm_init(backend, keys, nonce, aad)?;
    let mut ctr = next_ctr(st.j0, 1, true);
    for chunk in data.chunks_mut(GCM_CHUNK) {
        raw_ctr(backend, keys, ctr, true, chunk);
        st.ghash.update_padded(chunk);
        ctr = next_ctr(ctr, (GCM_CHUNK / 16) as u64, true);
    }
    Ok(gcm_finish(backend, keys, st, aad.len(), data.len()))
}

/// [`gcm_open`] on an explicit backend (panics if the CPU lacks it).
pub fn gcm_open_with(
    backend: Backend,
    keys: &Sm4Keys,
    nonce: &[u8],
    aad: &[u8],
    data: &mut [u8],
    tag: &[u8],
) -> Result<(), Error> {
    backend.check();
    if tag.len() != GCM_TAG_LEN {
        return Err(Error::InvalidTagLength);
    }
    if data.len() as u64 > GCM_MAX_LEN {
        return Err(Error::MessageTooLong);
    }
    let mut st = gcm_init(backend, keys, nonce, aad)?;
    let mut ctr = next_ctr(st.j0, 1, true);
    for chunk in data.chunks_mut(GCM_CHUNK) {
        st.ghash.update_padded(chunk);
        raw_ctr(backend, keys, ctr, true, chunk);
        ctr = next_ctr(ctr, (GCM_CHUNK / 16) as u64, true);
    }
    let want = gcm_finish(backend, keys, st, aad.len(), data.len());
    if bool::from(want.ct_eq(tag)) {
        Ok(())
    } else {
        data.zeroize();
        Err(Error::AuthenticationFailed)
    }
}
