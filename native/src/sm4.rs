//! SM4 block cipher (GB/T 32907-2016) and its modes of operation (GB/T 17964-2021, NIST SP 800-38A/C/D).
//!
//! The block function is our own table-driven implementation: the S-box (τ, §6.2) and the linear
//! transform L (§6.2) are folded into four 256-entry `u32` tables, and the multi-block paths (CTR,
//! CBC decryption, GCM) run four blocks interleaved for instruction-level parallelism. It is checked
//! bit for bit against the GB/T vectors, against RustCrypto's `sm4` crate (cargo tests) and against
//! OpenSSL through `cryptography` (pytest differential tests).
//!
//! Side channels: like OpenSSL's and RustCrypto's portable SM4, table look-ups are indexed by
//! secret-dependent bytes, so the block function is not constant-time against a cache-timing attacker
//! on the same machine. Tag and padding checks *are* constant-time (`subtle`). Constant-time SIMD
//! kernels (GFNI / AES-NI) are issue 4.
//!
//! Dispatch (issue 4): when [`crate::simd::sm4`]'s runtime-detected backend is not the portable
//! one, the bulk paths go through it — ECB blocks, CTR (one-shot, streaming, files), CBC
//! decryption (one-shot, streaming, files; PKCS#7 and its constant-time check stay here), GCM (one-shot seal/open through `simd::sm4::gcm_*`; streaming keystream through
//! `ctr_xor`, GHASH kept here) and the batch decrypt. The table code below is the portable path,
//! used when `BIDKERNEL_FORCE_PORTABLE=1` or no SIMD backend exists, and always for serial CBC
//! encryption (measured faster here). Outputs are byte-identical.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::simd::sm4 as fast;

/// Whether the SIMD SM4 backend is in use (detected once per process; portable when
/// `BIDKERNEL_FORCE_PORTABLE=1` or the CPU has neither GFNI+AVX-512 nor AES-NI).
pub fn fast_path() -> bool {
    fast::Backend::detect() != fast::Backend::Portable
}

/// Name of the SM4 backend the bulk paths use: the SIMD backend's name, or `"portable"` for the
/// table code of this module.
pub fn active_backend() -> &'static str {
    fast::active_backend()
}

/// Block size in bytes (GB/T 32907 §5).
pub const BLOCK_LEN: usize = 16;
/// Key length in bytes (GB/T 32907 §5).
pub const KEY_LEN: usize = 16;
/// GCM tag length in bytes (only full 128-bit tags are produced or accepted).
pub const GCM_TAG_LEN: usize = 16;

/// Errors of the SM4 layer. None of them carries key material.
#[derive(Debug)]
pub enum Error {
    /// The key is not 16 bytes.
    InvalidKeyLength,
    /// The IV / nonce has a length the mode does not allow.
    InvalidIvLength,
    /// The tag has a length the mode does not allow.
    InvalidTagLength,
    /// Input length not allowed (e.g. unpadded CBC input that is not a whole number of blocks,
    /// or more data than the mode can process under one key and IV).
    InvalidLength,
    /// CBC decryption failed: bad length or bad PKCS#7 padding. One generic error, so padding
    /// failures cannot be told apart from other failures (no padding oracle).
    DecryptionFailed,
    /// AEAD tag verification failed.
    InvalidTag,
    /// The ciphertext's SM3 digest differs from the expected one (batch items with `expect_sm3`).
    DigestMismatch,
    /// Unknown mode name.
    UnknownMode,
    /// A batch item names neither or both of a buffer and a file.
    InvalidItem,
    /// An I/O error on a file operation.
    Io(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidKeyLength => f.write_str("SM4 key must be 16 bytes"),
            Error::InvalidIvLength => f.write_str("invalid IV/nonce length for this mode"),
            Error::InvalidTagLength => f.write_str("invalid tag length for this mode"),
            Error::InvalidLength => f.write_str("invalid input length for this mode"),
            Error::DecryptionFailed => f.write_str("decryption failed"),
            Error::InvalidTag => f.write_str("authentication tag mismatch"),
            Error::DigestMismatch => f.write_str("ciphertext SM3 digest mismatch"),
            Error::InvalidItem => f.write_str("a batch item needs exactly one of data or path"),
            Error::UnknownMode => {
                f.write_str("unknown SM4 mode (expected ecb, cbc, ctr, gcm or ccm)")
            }
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// The S-box of GB/T 32907-2016 §6.2 (Table 1), as specified by the standard (also the SIMD
/// S-box derivation's test reference, `simd::sm4_sbox`).
pub(crate) static SBOX: [u8; 256] = [
    0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c, 0x05,
    0x2b, 0x67, 0x9a, 0x76, 0x2a, 0xbe, 0x04, 0xc3, 0xaa, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99,
    0x9c, 0x42, 0x50, 0xf4, 0x91, 0xef, 0x98, 0x7a, 0x33, 0x54, 0x0b, 0x43, 0xed, 0xcf, 0xac, 0x62,
    0xe4, 0xb3, 0x1c, 0xa9, 0xc9, 0x08, 0xe8, 0x95, 0x80, 0xdf, 0x94, 0xfa, 0x75, 0x8f, 0x3f, 0xa6,
    0x47, 0x07, 0xa7, 0xfc, 0xf3, 0x73, 0x17, 0xba, 0x83, 0x59, 0x3c, 0x19, 0xe6, 0x85, 0x4f, 0xa8,
    0x68, 0x6b, 0x81, 0xb2, 0x71, 0x64, 0xda, 0x8b, 0xf8, 0xeb, 0x0f, 0x4b, 0x70, 0x56, 0x9d, 0x35,
    0x1e, 0x24, 0x0e, 0x5e, 0x63, 0x58, 0xd1, 0xa2, 0x25, 0x22, 0x7c, 0x3b, 0x01, 0x21, 0x78, 0x87,
    0xd4, 0x00, 0x46, 0x57, 0x9f, 0xd3, 0x27, 0x52, 0x4c, 0x36, 0x02, 0xe7, 0xa0, 0xc4, 0xc8, 0x9e,
    0xea, 0xbf, 0x8a, 0xd2, 0x40, 0xc7, 0x38, 0xb5, 0xa3, 0xf7, 0xf2, 0xce, 0xf9, 0x61, 0x15, 0xa1,
    0xe0, 0xae, 0x5d, 0xa4, 0x9b, 0x34, 0x1a, 0x55, 0xad, 0x93, 0x32, 0x30, 0xf5, 0x8c, 0xb1, 0xe3,
    0x1d, 0xf6, 0xe2, 0x2e, 0x82, 0x66, 0xca, 0x60, 0xc0, 0x29, 0x23, 0xab, 0x0d, 0x53, 0x4e, 0x6f,
    0xd5, 0xdb, 0x37, 0x45, 0xde, 0xfd, 0x8e, 0x2f, 0x03, 0xff, 0x6a, 0x72, 0x6d, 0x6c, 0x5b, 0x51,
    0x8d, 0x1b, 0xaf, 0x92, 0xbb, 0xdd, 0xbc, 0x7f, 0x11, 0xd9, 0x5c, 0x41, 0x1f, 0x10, 0x5a, 0xd8,
    0x0a, 0xc1, 0x31, 0x88, 0xa5, 0xcd, 0x7b, 0xbd, 0x2d, 0x74, 0xd0, 0x12, 0xb8, 0xe5, 0xb4, 0xb0,
    0x89, 0x69, 0x97, 0x4a, 0x0c, 0x96, 0x77, 0x7e, 0x65, 0xb9, 0xf1, 0x09, 0xc5, 0x6e, 0xc6, 0x84,
    0x18, 0xf0, 0x7d, 0xec, 0x3a, 0xdc, 0x4d, 0x20, 0x79, 0xee, 0x5f, 0x3e, 0xd7, 0xcb, 0x39, 0x48,
];

/// System parameter FK (GB/T 32907 §7.3).
const FK: [u32; 4] = [0xa3b1_bac6, 0x56aa_3350, 0x677d_9197, 0xb270_22dc];

/// Fixed parameter CK (GB/T 32907 §7.3): byte j of CK_i is (4i + j) * 7 mod 256.
const CK: [u32; 32] = {
    let mut ck = [0u32; 32];
    let mut i = 0;
    while i < 32 {
        let mut w = 0u32;
        let mut j = 0;
        while j < 4 {
            w = (w << 8) | (((4 * i + j) * 7) % 256) as u32;
            j += 1;
        }
        ck[i] = w;
        i += 1;
    }
    ck
};

/// Linear transform L of the round function (§6.2).
const fn l(b: u32) -> u32 {
    b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24)
}

/// Linear transform L' of the key schedule (§7.3).
const fn l_prime(b: u32) -> u32 {
    b ^ b.rotate_left(13) ^ b.rotate_left(23)
}

/// T = L∘τ folded into four tables, one per input byte position.
static TT: [[u32; 256]; 4] = {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let s = SBOX[i] as u32;
        t[0][i] = l(s << 24);
        t[1][i] = l(s << 16);
        t[2][i] = l(s << 8);
        t[3][i] = l(s);
        i += 1;
    }
    t
};

#[inline(always)]
fn tau(a: u32) -> u32 {
    let b = a.to_be_bytes();
    u32::from_be_bytes([
        SBOX[b[0] as usize],
        SBOX[b[1] as usize],
        SBOX[b[2] as usize],
        SBOX[b[3] as usize],
    ])
}

#[inline(always)]
fn load(b: &[u8]) -> [u32; 4] {
    [
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
    ]
}

/// Reverse transformation R (§7.1): output (X35, X34, X33, X32).
#[inline(always)]
fn store(x: &[u32; 4], out: &mut [u8]) {
    out[0..4].copy_from_slice(&x[3].to_be_bytes());
    out[4..8].copy_from_slice(&x[2].to_be_bytes());
    out[8..12].copy_from_slice(&x[1].to_be_bytes());
    out[12..16].copy_from_slice(&x[0].to_be_bytes());
}

/// One round of the block function (§7.1) on words held in locals, latency-ordered: the two older
/// words and the round key are combined first, the newest word last, and the table outputs are
/// folded as a balanced tree into the accumulator word.
macro_rules! sm4_round {
    ($acc:ident, $o1:ident, $o2:ident, $new:ident, $rk:expr) => {{
        let i = ($o1 ^ $o2 ^ $rk) ^ $new;
        let a = TT[0][(i >> 24) as usize] ^ TT[1][((i >> 16) & 0xff) as usize];
        let c = TT[2][((i >> 8) & 0xff) as usize] ^ TT[3][(i & 0xff) as usize];
        $acc = ($acc ^ a) ^ c;
    }};
}

/// 32 rounds (§7.1) on one block, in place, for the serial modes (CBC encryption, single blocks).
///
/// Latency-optimised: besides X_{i+4} = X_i ^ T(in_i), the next round's input
/// in_{i+1} = X_{i+1} ^ X_{i+2} ^ X_{i+3} ^ X_{i+4} ^ rk_{i+1} is formed straight from the table
/// outputs (the other terms are ready early), which takes one XOR off the per-round chain.
#[inline(always)]
fn rounds1(rk: &[u32; 32], b: &mut [u8]) {
    let [mut x0, mut x1, mut x2, mut x3] = load(b);
    let mut inp = x1 ^ x2 ^ x3 ^ rk[0];
    // $acc = X_i (replaced by X_{i+4}), $p1..$p3 = X_{i+1}..X_{i+3}.
    macro_rules! r1 {
        ($acc:ident, $p1:ident, $p2:ident, $p3:ident, $rk_next:expr) => {{
            let _ = $p1;
            let p = ($acc ^ $p2 ^ $rk_next) ^ $p3;
            let a = TT[0][(inp >> 24) as usize] ^ TT[1][((inp >> 16) & 0xff) as usize];
            let c = TT[2][((inp >> 8) & 0xff) as usize] ^ TT[3][(inp & 0xff) as usize];
            $acc = ($acc ^ a) ^ c;
            inp = (p ^ a) ^ c;
        }};
    }
    for k in 0..8 {
        let r = &rk[k * 4..k * 4 + 4];
        let r_next = if k < 7 { rk[k * 4 + 4] } else { 0 };
        r1!(x0, x1, x2, x3, r[1]);
        r1!(x1, x2, x3, x0, r[2]);
        r1!(x2, x3, x0, x1, r[3]);
        r1!(x3, x0, x1, x2, r_next);
    }
    store(&[x0, x1, x2, x3], b);
}

/// 32 rounds on four independent blocks (64 bytes), interleaved for instruction-level parallelism.
#[inline(always)]
fn rounds4(rk: &[u32; 32], b: &mut [u8]) {
    let [mut a0, mut a1, mut a2, mut a3] = load(&b[0..16]);
    let [mut b0, mut b1, mut b2, mut b3] = load(&b[16..32]);
    let [mut c0, mut c1, mut c2, mut c3] = load(&b[32..48]);
    let [mut d0, mut d1, mut d2, mut d3] = load(&b[48..64]);
    for k in 0..8 {
        let r = &rk[k * 4..k * 4 + 4];
        sm4_round!(a0, a1, a2, a3, r[0]);
        sm4_round!(b0, b1, b2, b3, r[0]);
        sm4_round!(c0, c1, c2, c3, r[0]);
        sm4_round!(d0, d1, d2, d3, r[0]);
        sm4_round!(a1, a2, a3, a0, r[1]);
        sm4_round!(b1, b2, b3, b0, r[1]);
        sm4_round!(c1, c2, c3, c0, r[1]);
        sm4_round!(d1, d2, d3, d0, r[1]);
        sm4_round!(a2, a3, a0, a1, r[2]);
        sm4_round!(b2, b3, b0, b1, r[2]);
        sm4_round!(c2, c3, c0, c1, r[2]);
        sm4_round!(d2, d3, d0, d1, r[2]);
        sm4_round!(a3, a0, a1, a2, r[3]);
        sm4_round!(b3, b0, b1, b2, r[3]);
        sm4_round!(c3, c0, c1, c2, r[3]);
        sm4_round!(d3, d0, d1, d2, r[3]);
    }
    store(&[a0, a1, a2, a3], &mut b[0..16]);
    store(&[b0, b1, b2, b3], &mut b[16..32]);
    store(&[c0, c1, c2, c3], &mut b[32..48]);
    store(&[d0, d1, d2, d3], &mut b[48..64]);
}

/// An expanded SM4 key: encryption round keys and their reverse for decryption (§7.2, §7.3).
/// Round keys are zeroized on drop and never printed.
#[derive(Clone)]
pub struct Sm4 {
    enc: [u32; 32],
    dec: [u32; 32],
    /// The SIMD backend's expanded key when that backend is active (zeroized on its own drop).
    fast: Option<Arc<fast::Sm4Keys>>,
}

impl Drop for Sm4 {
    fn drop(&mut self) {
        self.enc.zeroize();
        self.dec.zeroize();
    }
}

impl std::fmt::Debug for Sm4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm4 { .. }")
    }
}

impl Sm4 {
    /// Expands a 16-byte key (key schedule, §7.3).
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        if key.len() != KEY_LEN {
            return Err(Error::InvalidKeyLength);
        }
        let mk = load(key);
        let mut k = [mk[0] ^ FK[0], mk[1] ^ FK[1], mk[2] ^ FK[2], mk[3] ^ FK[3]];
        let mut enc = [0u32; 32];
        for (i, rk) in enc.iter_mut().enumerate() {
            let next = k[i % 4]
                ^ l_prime(tau(k[(i + 1) % 4]
                    ^ k[(i + 2) % 4]
                    ^ k[(i + 3) % 4]
                    ^ CK[i]));
            k[i % 4] = next;
            *rk = next;
        }
        k.zeroize();
        let mut dec = enc;
        dec.reverse();
        let fast = if fast_path() {
            let mut kb = [0u8; KEY_LEN];
            kb.copy_from_slice(key);
            let keys = fast::Sm4Keys::new(&kb);
            kb.zeroize();
            Some(Arc::new(keys))
        } else {
            None
        };
        Ok(Sm4 { enc, dec, fast })
    }

    /// Encrypts one 16-byte block in place (§7.1).
    pub fn encrypt_block(&self, block: &mut [u8; BLOCK_LEN]) {
        rounds1(&self.enc, block);
    }

    /// Decrypts one 16-byte block in place (§7.2: the same rounds with reversed round keys).
    pub fn decrypt_block(&self, block: &mut [u8; BLOCK_LEN]) {
        rounds1(&self.dec, block);
    }

    /// Encrypts a whole number of blocks in place (ECB over `buf`, length a multiple of 16).
    pub fn encrypt_blocks(&self, buf: &mut [u8]) {
        match &self.fast {
            Some(k) if buf.len().is_multiple_of(BLOCK_LEN) => {
                fast::encrypt_blocks(k, buf).expect("whole blocks")
            }
            _ => crypt_blocks(&self.enc, buf),
        }
    }

    /// Decrypts a whole number of blocks in place.
    pub fn decrypt_blocks(&self, buf: &mut [u8]) {
        match &self.fast {
            Some(k) if buf.len().is_multiple_of(BLOCK_LEN) => {
                fast::decrypt_blocks(k, buf).expect("whole blocks")
            }
            _ => crypt_blocks(&self.dec, buf),
        }
    }
}

fn crypt_blocks(rk: &[u32; 32], buf: &mut [u8]) {
    debug_assert_eq!(buf.len() % BLOCK_LEN, 0);
    let mut quads = buf.chunks_exact_mut(64);
    for q in &mut quads {
        rounds4(rk, q);
    }
    for b in quads.into_remainder().chunks_exact_mut(BLOCK_LEN) {
        rounds1(rk, b);
    }
}

#[inline(always)]
fn xor_in_place(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= *s;
    }
}

fn block_array(b: &[u8]) -> Result<[u8; BLOCK_LEN], Error> {
    b.try_into().map_err(|_| Error::InvalidIvLength)
}

// ------------------------------------------------------------------------------------------------ ECB

/// Encrypts one block with `key` (GB/T 32907 §7.1).
pub fn encrypt_block(key: &[u8], block: &[u8]) -> Result<[u8; BLOCK_LEN], Error> {
    let c = Sm4::new(key)?;
    let mut b: [u8; BLOCK_LEN] = block.try_into().map_err(|_| Error::InvalidLength)?;
    c.encrypt_block(&mut b);
    Ok(b)
}

/// Decrypts one block with `key` (GB/T 32907 §7.2).
pub fn decrypt_block(key: &[u8], block: &[u8]) -> Result<[u8; BLOCK_LEN], Error> {
    let c = Sm4::new(key)?;
    let mut b: [u8; BLOCK_LEN] = block.try_into().map_err(|_| Error::InvalidLength)?;
    c.decrypt_block(&mut b);
    Ok(b)
}

// ------------------------------------------------------------------------------------------------ CBC

/// Streaming CBC encryption (SP 800-38A §6.2) with optional PKCS#7 padding (RFC 5652 §6.3).
pub struct CbcEncryptor {
    cipher: Sm4,
    chain: [u8; BLOCK_LEN],
    pending: Vec<u8>,
    pad: bool,
}

impl CbcEncryptor {
    /// A new encryptor; `pad` selects PKCS#7 (otherwise input must be whole blocks).
    pub fn new(key: &[u8], iv: &[u8], pad: bool) -> Result<Self, Error> {
        Ok(CbcEncryptor {
            cipher: Sm4::new(key)?,
            chain: block_array(iv)?,
            pending: Vec::new(),
            pad,
        })
    }

    // Serial by nature, and stays on the table code: through the Python API the SIMD single-block
    // loop measured ~37 MB/s against ~47 MB/s for this loop (same run, one core; docs/performance.md).
    fn encrypt_whole(&mut self, buf: &mut [u8]) {
        for b in buf.chunks_exact_mut(BLOCK_LEN) {
            xor_in_place(b, &self.chain);
            rounds1(&self.cipher.enc, b);
            self.chain.copy_from_slice(b);
        }
    }

    /// Encrypts `data`, returning the ciphertext of every block completed so far.
    pub fn update(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(data);
        let whole = buf.len() - buf.len() % BLOCK_LEN;
        self.pending = buf[whole..].to_vec();
        buf.truncate(whole);
        self.encrypt_whole(&mut buf);
        buf
    }

    /// Finishes: the padded last block (or an error if unpadded input was not whole blocks).
    pub fn finalize(mut self) -> Result<Vec<u8>, Error> {
        let mut last = std::mem::take(&mut self.pending);
        if self.pad {
            let n = BLOCK_LEN - last.len();
            last.resize(BLOCK_LEN, n as u8);
        } else if !last.is_empty() {
            return Err(Error::InvalidLength);
        }
        self.encrypt_whole(&mut last);
        Ok(last)
    }
}

/// Streaming CBC decryption (SP 800-38A §6.2). With padding, the last block is held back until
/// [`CbcDecryptor::finalize`], which checks PKCS#7 in constant time.
pub struct CbcDecryptor {
    cipher: Sm4,
    chain: [u8; BLOCK_LEN],
    pending: Vec<u8>,
    pad: bool,
}

impl CbcDecryptor {
    /// A new decryptor; `pad` selects PKCS#7 removal.
    pub fn new(key: &[u8], iv: &[u8], pad: bool) -> Result<Self, Error> {
        Ok(CbcDecryptor {
            cipher: Sm4::new(key)?,
            chain: block_array(iv)?,
            pending: Vec::new(),
            pad,
        })
    }

    fn decrypt_whole(&mut self, buf: &mut [u8]) {
        if buf.is_empty() {
            return;
        }
        let next_chain: [u8; BLOCK_LEN] = buf[buf.len() - BLOCK_LEN..].try_into().expect("block");
        if let Some(k) = &self.cipher.fast {
            fast::cbc_decrypt(k, &self.chain, buf).expect("whole blocks");
            self.chain = next_chain;
            return;
        }
        // Previous ciphertext blocks are needed after decryption: decrypt from a copy of the input.
        let prev_tail = buf[..buf.len() - BLOCK_LEN].to_vec();
        crypt_blocks(&self.cipher.dec, buf);
        xor_in_place(&mut buf[..BLOCK_LEN], &self.chain);
        xor_in_place(&mut buf[BLOCK_LEN..], &prev_tail);
        self.chain = next_chain;
    }

    /// Decrypts `data`, returning the plaintext that is final so far.
    pub fn update(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(data);
        let mut whole = buf.len() - buf.len() % BLOCK_LEN;
        if self.pad && whole == buf.len() && whole > 0 {
            whole -= BLOCK_LEN; // keep a possible last (padded) block back
        }
        self.pending = buf[whole..].to_vec();
        buf.truncate(whole);
        self.decrypt_whole(&mut buf);
        buf
    }

    /// [`CbcDecryptor::update`] into a caller's buffer (cleared first, its capacity reused), for
    /// streams that decrypt chunk after chunk without a fresh allocation each time.
    pub fn update_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.pending);
        out.extend_from_slice(data);
        let mut whole = out.len() - out.len() % BLOCK_LEN;
        if self.pad && whole == out.len() && whole > 0 {
            whole -= BLOCK_LEN; // keep a possible last (padded) block back
        }
        self.pending.clear();
        self.pending.extend_from_slice(&out[whole..]);
        out.truncate(whole);
        self.decrypt_whole(out);
    }

    /// Finishes: the last plaintext block(s) with padding removed; [`Error::DecryptionFailed`] for a
    /// bad length or bad padding alike.
    pub fn finalize(mut self) -> Result<Vec<u8>, Error> {
        let mut last = std::mem::take(&mut self.pending);
        if !last.len().is_multiple_of(BLOCK_LEN) || (self.pad && last.is_empty()) {
            return Err(if self.pad {
                Error::DecryptionFailed
            } else {
                Error::InvalidLength
            });
        }
        self.decrypt_whole(&mut last);
        if self.pad {
            let n = pkcs7_unpadded_len(&last).ok_or(Error::DecryptionFailed)?;
            last.truncate(n);
        }
        Ok(last)
    }
}

/// Length of `buf` without its PKCS#7 padding, checked in constant time over the last block.
fn pkcs7_unpadded_len(buf: &[u8]) -> Option<usize> {
    use subtle::{ConstantTimeGreater, ConstantTimeLess};
    let n = buf.len();
    if n < BLOCK_LEN || !n.is_multiple_of(BLOCK_LEN) {
        return None;
    }
    let last_block = &buf[n - BLOCK_LEN..];
    let p = last_block[BLOCK_LEN - 1];
    let mut ok = p.ct_gt(&0) & p.ct_lt(&(BLOCK_LEN as u8 + 1));
    for (i, &b) in last_block.iter().rev().enumerate() {
        let in_pad = (i as u8).ct_lt(&p);
        ok &= !in_pad | b.ct_eq(&p);
    }
    if bool::from(ok) {
        Some(n - p as usize)
    } else {
        None
    }
}

/// CBC encryption of `data` in one call; `pad` selects PKCS#7.
pub fn cbc_encrypt(key: &[u8], iv: &[u8], data: &[u8], pad: bool) -> Result<Vec<u8>, Error> {
    let mut e = CbcEncryptor::new(key, iv, pad)?;
    if !pad && !data.len().is_multiple_of(BLOCK_LEN) {
        return Err(Error::InvalidLength);
    }
    let mut out = e.update(data);
    out.extend(e.finalize()?);
    Ok(out)
}

/// CBC decryption of `data` in one call; `pad` selects PKCS#7 removal.
pub fn cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8], pad: bool) -> Result<Vec<u8>, Error> {
    let mut d = CbcDecryptor::new(key, iv, pad)?;
    let mut out = d.update(data);
    out.extend(d.finalize()?);
    Ok(out)
}

// ------------------------------------------------------------------------------------------------ CTR

/// Keystream generator over a counter block. `full` = the whole 128-bit block is one big-endian
/// counter (SP 800-38A Appendix B.1, GB/T 17964 CTR); otherwise only the low 32 bits (GCM's inc32).
struct Keystream {
    cipher: Sm4,
    counter: u128,
    full: bool,
    ks: [u8; 64],
    pos: usize,
}

impl Keystream {
    fn new(cipher: Sm4, counter: u128, full: bool) -> Self {
        Keystream {
            cipher,
            counter,
            full,
            ks: [0; 64],
            pos: 64,
        }
    }

    #[inline(always)]
    fn next_counter(&mut self) -> u128 {
        let c = self.counter;
        self.counter = if self.full {
            c.wrapping_add(1)
        } else {
            (c & !0xffff_ffffu128) | u128::from((c as u32).wrapping_add(1))
        };
        c
    }

    fn fill4(&mut self, out: &mut [u8; 64]) {
        for i in 0..4 {
            let c = self.next_counter();
            out[i * 16..i * 16 + 16].copy_from_slice(&c.to_be_bytes());
        }
        rounds4(&self.cipher.enc, out);
    }

    /// XORs the keystream of whole blocks into `data` with the SIMD kernel, advancing the counter.
    /// The kernel counts over all 128 bits; for GCM's inc32 the data is split where the low 32 bits
    /// wrap, so every piece's 128-bit count equals its inc32 count.
    fn apply_fast(&mut self, keys: &fast::Sm4Keys, mut data: &mut [u8]) {
        debug_assert_eq!(data.len() % BLOCK_LEN, 0);
        while !data.is_empty() {
            let blocks = (data.len() / BLOCK_LEN) as u64;
            let n = if self.full {
                blocks
            } else {
                blocks.min((1u64 << 32) - u64::from(self.counter as u32))
            };
            let (now, rest) = data.split_at_mut(n as usize * BLOCK_LEN);
            fast::ctr_xor(keys, &self.counter.to_be_bytes(), 0, now);
            self.counter = if self.full {
                self.counter.wrapping_add(u128::from(n))
            } else {
                (self.counter & !0xffff_ffffu128)
                    | u128::from((self.counter as u32).wrapping_add(n as u32))
            };
            data = rest;
        }
    }

    /// XORs the keystream into `data`.
    fn apply(&mut self, mut data: &mut [u8]) {
        while self.pos < 64 && !data.is_empty() {
            data[0] ^= self.ks[self.pos];
            self.pos += 1;
            data = &mut data[1..];
        }
        if let Some(k) = self.cipher.fast.clone() {
            // Whole 64-byte chunks through the SIMD kernel; the counter advances exactly as
            // `fill4` would, so a partial tail continues the same keystream.
            let bulk = data.len() - data.len() % 64;
            self.apply_fast(&k, &mut data[..bulk]);
            data = &mut data[bulk..];
        }
        let mut chunks = data.chunks_exact_mut(64);
        let mut ks = [0u8; 64];
        for c in &mut chunks {
            self.fill4(&mut ks);
            xor_in_place(c, &ks);
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut ks = [0u8; 64];
            self.fill4(&mut ks);
            self.ks = ks;
            xor_in_place(rest, &self.ks);
            self.pos = rest.len();
        }
        ks.zeroize();
    }
}

impl Drop for Keystream {
    fn drop(&mut self) {
        self.ks.zeroize();
    }
}

/// Streaming CTR mode: the 16-byte IV is the initial counter block, incremented as one 128-bit
/// big-endian integer (SP 800-38A §6.5, Appendix B.1). Encryption and decryption are the same.
pub struct Ctr(Keystream);

impl Ctr {
    /// A new CTR stream; `iv` must be 16 bytes.
    pub fn new(key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        let iv = block_array(iv)?;
        Ok(Ctr(Keystream::new(
            Sm4::new(key)?,
            u128::from_be_bytes(iv),
            true,
        )))
    }

    /// XORs the keystream into `data` in place.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply(data)
    }
}

/// CTR encryption/decryption of `data` in one call.
pub fn ctr_xor(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut c = Ctr::new(key, iv)?;
    let mut out = data.to_vec();
    c.apply(&mut out);
    Ok(out)
}

// ------------------------------------------------------------------------------------------------ GCM

use ghash::universal_hash::UniversalHash;

/// Piece size of the interleaved GCTR / GHASH passes.
const GCM_PIECE: usize = 8 * 1024;

/// Largest plaintext GCM allows under one key and IV: 2^39 - 256 bits (SP 800-38D §5.2.1.1).
pub const GCM_MAX_DATA: u64 = (1 << 36) - 32;

/// GHASH over a byte stream, buffering a partial block.
struct GhashStream {
    g: ghash::GHash,
    buf: [u8; BLOCK_LEN],
    n: usize,
}

impl GhashStream {
    fn new(h: &[u8; BLOCK_LEN]) -> Self {
        GhashStream {
            g: ghash::GHash::new(&(*h).into()),
            buf: [0; BLOCK_LEN],
            n: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        if self.n > 0 {
            let take = (BLOCK_LEN - self.n).min(data.len());
            self.buf[self.n..self.n + take].copy_from_slice(&data[..take]);
            self.n += take;
            data = &data[take..];
            if self.n < BLOCK_LEN {
                return;
            }
            self.g.update_padded(&self.buf);
            self.n = 0;
        }
        let whole = data.len() - data.len() % BLOCK_LEN;
        if whole > 0 {
            self.g.update_padded(&data[..whole]);
        }
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.n = rest.len();
    }

    /// Zero-pads the pending partial block (the `0^v` / `0^u` of SP 800-38D §7.1 step 5).
    fn pad(&mut self) {
        if self.n > 0 {
            self.g.update_padded(&self.buf[..self.n]);
            self.n = 0;
        }
    }
}

/// Derives H and J0 (SP 800-38D §7.1 steps 1-2): J0 = IV || 0^31 || 1 for a 96-bit IV, otherwise
/// GHASH_H(IV || 0^(s+64) || [len(IV)]_64). Any IV length of at least one byte is accepted.
fn gcm_setup(cipher: &Sm4, iv: &[u8]) -> Result<([u8; BLOCK_LEN], u128), Error> {
    if iv.is_empty() || (iv.len() as u64) > (1u64 << 61) {
        return Err(Error::InvalidIvLength);
    }
    let mut h = [0u8; BLOCK_LEN];
    cipher.encrypt_block(&mut h);
    let j0 = if iv.len() == 12 {
        let mut j = [0u8; BLOCK_LEN];
        j[..12].copy_from_slice(iv);
        j[15] = 1;
        u128::from_be_bytes(j)
    } else {
        let mut g = GhashStream::new(&h);
        g.update(iv);
        g.pad();
        let mut lens = [0u8; BLOCK_LEN];
        lens[8..].copy_from_slice(&((iv.len() as u64) * 8).to_be_bytes());
        g.update(&lens);
        u128::from_be_bytes(g.g.finalize().into())
    };
    Ok((h, j0))
}

/// Streaming GCM (SP 800-38D §7.1 encryption, §7.2 decryption). Feed all AAD first, then data.
pub struct Gcm {
    ks: Keystream,
    ghash: GhashStream,
    ek_j0: [u8; BLOCK_LEN],
    aad_len: u64,
    data_len: u64,
    data_started: bool,
    encrypting: bool,
}

impl Gcm {
    fn new(key: &[u8], iv: &[u8], encrypting: bool) -> Result<Self, Error> {
        let cipher = Sm4::new(key)?;
        let (mut h, j0) = gcm_setup(&cipher, iv)?;
        let mut ek_j0 = j0.to_be_bytes();
        cipher.encrypt_block(&mut ek_j0);
        let ghash = GhashStream::new(&h);
        h.zeroize();
        let mut ks = Keystream::new(cipher, j0, false);
        ks.next_counter(); // data starts at inc32(J0)
        Ok(Gcm {
            ks,
            ghash,
            ek_j0,
            aad_len: 0,
            data_len: 0,
            data_started: false,
            encrypting,
        })
    }

    /// A GCM encryption stream.
    pub fn encryptor(key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        Self::new(key, iv, true)
    }

    /// A GCM decryption stream; nothing it returns may be trusted before [`Gcm::verify`] succeeds.
    pub fn decryptor(key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        Self::new(key, iv, false)
    }

    /// Adds associated data (only before the first [`Gcm::update`]).
    pub fn update_aad(&mut self, aad: &[u8]) -> Result<(), Error> {
        if self.data_started {
            return Err(Error::InvalidLength);
        }
        self.aad_len = self
            .aad_len
            .checked_add(aad.len() as u64)
            .ok_or(Error::InvalidLength)?;
        if self.aad_len > (1u64 << 61) - 1 {
            return Err(Error::InvalidLength);
        }
        self.ghash.update(aad);
        Ok(())
    }

    /// Encrypts or decrypts `data` in place.
    pub fn update(&mut self, data: &mut [u8]) -> Result<(), Error> {
        if !self.data_started {
            self.ghash.pad();
            self.data_started = true;
        }
        self.data_len = self
            .data_len
            .checked_add(data.len() as u64)
            .ok_or(Error::InvalidLength)?;
        if self.data_len > GCM_MAX_DATA {
            return Err(Error::InvalidLength);
        }
        // Work in L1-sized pieces so GHASH reads what the cipher just wrote while it is in cache.
        for piece in data.chunks_mut(GCM_PIECE) {
            if self.encrypting {
                self.ks.apply(piece);
                self.ghash.update(piece);
            } else {
                self.ghash.update(piece);
                self.ks.apply(piece);
            }
        }
        Ok(())
    }

    fn tag(mut self) -> [u8; GCM_TAG_LEN] {
        self.ghash.pad();
        let mut lens = [0u8; BLOCK_LEN];
        lens[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lens[8..].copy_from_slice(&(self.data_len * 8).to_be_bytes());
        self.ghash.update(&lens);
        let g = std::mem::replace(&mut self.ghash.g, ghash::GHash::new(&[0u8; 16].into()));
        let mut s: [u8; BLOCK_LEN] = g.finalize().into();
        xor_in_place(&mut s, &self.ek_j0);
        s
    }

    /// Finishes encryption: the 16-byte tag.
    pub fn finalize(self) -> [u8; GCM_TAG_LEN] {
        self.tag()
    }

    /// Finishes decryption: compares the expected tag in constant time.
    pub fn verify(self, tag: &[u8]) -> Result<(), Error> {
        if tag.len() != GCM_TAG_LEN {
            return Err(Error::InvalidTagLength);
        }
        let t = self.tag();
        if bool::from(t.ct_eq(tag)) {
            Ok(())
        } else {
            Err(Error::InvalidTag)
        }
    }
}

impl Drop for Gcm {
    fn drop(&mut self) {
        self.ek_j0.zeroize();
    }
}

/// The SIMD key for a one-shot GCM call when that path is active, after the same checks (and in
/// the same order) as the streaming path: key, IV, AAD length, data length.
fn gcm_fast_keys(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
) -> Result<Option<Arc<fast::Sm4Keys>>, Error> {
    if !fast_path() {
        return Ok(None);
    }
    let cipher = Sm4::new(key)?;
    if iv.is_empty() || (iv.len() as u64) > (1u64 << 61) {
        return Err(Error::InvalidIvLength);
    }
    if aad.len() as u64 > (1u64 << 61) - 1 || data.len() as u64 > GCM_MAX_DATA {
        return Err(Error::InvalidLength);
    }
    Ok(cipher.fast.clone())
}

fn gcm_fast_err(e: fast::Error) -> Error {
    match e {
        fast::Error::AuthenticationFailed => Error::InvalidTag,
        fast::Error::InvalidNonce => Error::InvalidIvLength,
        fast::Error::InvalidTagLength => Error::InvalidTagLength,
        fast::Error::NotBlockAligned | fast::Error::MessageTooLong => Error::InvalidLength,
    }
}

/// GCM encryption in one call: returns (ciphertext, 16-byte tag).
pub fn gcm_encrypt(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
) -> Result<(Vec<u8>, [u8; 16]), Error> {
    let mut out = data.to_vec();
    let tag = gcm_encrypt_in_place(key, iv, aad, &mut out)?;
    Ok((out, tag))
}

/// [`gcm_encrypt`] over a buffer holding the plaintext: on success it holds the ciphertext and
/// the tag is returned; on an error (bad key, IV or length) the buffer is unchanged.
pub fn gcm_encrypt_in_place(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; 16], Error> {
    if let Some(k) = gcm_fast_keys(key, iv, aad, buf)? {
        return fast::gcm_seal(&k, iv, aad, buf).map_err(gcm_fast_err);
    }
    let mut g = Gcm::encryptor(key, iv)?;
    g.update_aad(aad)?;
    g.update(buf)?;
    Ok(g.finalize())
}

/// GCM decryption in one call; the plaintext is released only when the tag matches.
pub fn gcm_decrypt(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut out = data.to_vec();
    gcm_decrypt_in_place(key, iv, aad, &mut out, tag)?;
    Ok(out)
}

/// [`gcm_decrypt`] over a buffer holding the ciphertext: on success it holds the plaintext, on any
/// failure it is zeroed (no unauthenticated plaintext is left behind).
pub fn gcm_decrypt_in_place(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<(), Error> {
    let r = gcm_open_in_place(key, iv, aad, buf, tag);
    if r.is_err() {
        buf.zeroize();
    }
    r
}

fn gcm_open_in_place(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<(), Error> {
    if tag.len() != GCM_TAG_LEN {
        return Err(Error::InvalidTagLength);
    }
    if let Some(k) = gcm_fast_keys(key, iv, aad, buf)? {
        // `gcm_open` compares the tag in constant time.
        return fast::gcm_open(&k, iv, aad, buf, tag).map_err(gcm_fast_err);
    }
    let mut g = Gcm::decryptor(key, iv)?;
    g.update_aad(aad)?;
    g.update(buf)?;
    g.verify(tag)
}

// ------------------------------------------------------------------------------------------------ CCM

/// CCM (SP 800-38C, RFC 3610) through RustCrypto's `ccm` over RustCrypto's `sm4` block cipher.
/// Nonce 7..=13 bytes; tag 4, 6, 8, 10, 12, 14 or 16 bytes. The tag is compared in constant time
/// by the `ccm` crate.
mod ccm_impl {
    use super::Error;
    use ::ccm::aead::{AeadInOut, KeyInit};
    use ::ccm::consts::{U10, U11, U12, U13, U14, U16, U4, U6, U7, U8, U9};
    use ::ccm::Ccm;

    macro_rules! dispatch {
        ($key:expr, $nonce:expr, $tag_len:expr, |$c:ident, $n:ident| $body:expr) => {{
            let key = $key;
            let nonce = $nonce;
            macro_rules! with_tag {
                ($N:ty) => {
                    match $tag_len {
                        4 => {
                            let $c = Ccm::<::sm4::Sm4, U4, $N>::new_from_slice(key)
                                .map_err(|_| Error::InvalidKeyLength)?;
                            let $n = nonce.try_into().map_err(|_| Error::InvalidIvLength)?;
                            $body
                        }
                        6 => {
                            let $c = Ccm::<::sm4::Sm4, U6, $N>::new_from_slice(key)
                                .map_err(|_| Error::InvalidKeyLength)?;
                            let $n = nonce.try_into().map_err(|_| Error::InvalidIvLength)?;
                            $body
                        }
                        8 => {
                            let $c = Ccm::<::sm4::Sm4, U8, $N>::new_from_slice(key)
                                .map_err(|_| Error::InvalidKeyLength)?;
                            let $n = nonce.try_into().map_err(|_| Error::InvalidIvLength)?;
                            $body
                        }
                        10 => {
                            let $c = Ccm::<::sm4::Sm4, U10, $N>::new_from_slice(key)
                                .map_err(|_| Error::InvalidKeyLength)?;
                            let $n = nonce.try_into().map_err(|_| Error::InvalidIvLength)?;
                            $body
                        }
                        12 => {
                            let $c = Ccm::<::sm4::Sm4, U12, $N>::new_from_slice(key)
                                .map_err(|_| Error::InvalidKeyLength)?;
                            let $n = nonce.try_into().map_err(|_| Error::InvalidIvLength)?;
                            $body
                        }
                        14 => {
                            let $c = Ccm::<::sm4::Sm4, U14, $N>::new_from_slice(key)
                                .map_err(|_| Error::InvalidKeyLength)?;
                            let $n = nonce.try_into().map_err(|_| Error::InvalidIvLength)?;
                            $body
                        }
                        16 => {
                            let $c = Ccm::<::sm4::Sm4, U16, $N>::new_from_slice(key)
                                .map_err(|_| Error::InvalidKeyLength)?;
                            let $n = nonce.try_into().map_err(|_| Error::InvalidIvLength)?;
                            $body
                        }
                        _ => Err(Error::InvalidTagLength),
                    }
                };
            }
            match nonce.len() {
                7 => with_tag!(U7),
                8 => with_tag!(U8),
                9 => with_tag!(U9),
                10 => with_tag!(U10),
                11 => with_tag!(U11),
                12 => with_tag!(U12),
                13 => with_tag!(U13),
                _ => Err(Error::InvalidIvLength),
            }
        }};
    }

    pub fn encrypt(
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        data: &[u8],
        tag_len: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        if key.len() != super::KEY_LEN {
            return Err(Error::InvalidKeyLength);
        }
        dispatch!(key, nonce, tag_len, |c, n| {
            let mut buf = data.to_vec();
            let tag = c
                .encrypt_inout_detached(n, aad, buf.as_mut_slice().into())
                .map_err(|_| Error::InvalidLength)?;
            Ok((buf, tag.to_vec()))
        })
    }

    pub fn decrypt(
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        data: &[u8],
        tag: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if key.len() != super::KEY_LEN {
            return Err(Error::InvalidKeyLength);
        }
        dispatch!(key, nonce, tag.len(), |c, n| {
            let mut buf = data.to_vec();
            let t = tag.try_into().map_err(|_| Error::InvalidTagLength)?;
            c.decrypt_inout_detached(n, aad, buf.as_mut_slice().into(), t)
                .map_err(|_| Error::InvalidTag)?;
            Ok(buf)
        })
    }
}

/// CCM encryption: returns (ciphertext, tag of `tag_len` bytes).
pub fn ccm_encrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
    tag_len: usize,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    ccm_impl::encrypt(key, nonce, aad, data, tag_len)
}

/// CCM decryption; the tag length is the length of `tag`.
pub fn ccm_decrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, Error> {
    ccm_impl::decrypt(key, nonce, aad, data, tag)
}

// ------------------------------------------------------------------------------------------------ files

/// Read size of the file functions: large reads keep syscalls rare on multi-GB files.
pub const IO_CHUNK: usize = 1 << 20;

/// The modes the streaming file functions and the batch support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// CBC with PKCS#7 padding.
    Cbc,
    /// CTR with a 128-bit big-endian counter.
    Ctr,
    /// GCM with a 16-byte tag appended to the ciphertext (unless given apart).
    Gcm,
}

impl Mode {
    /// Parses "cbc", "ctr" or "gcm" (case-insensitive).
    pub fn parse(s: &str) -> Result<Mode, Error> {
        match s.to_ascii_lowercase().as_str() {
            "cbc" => Ok(Mode::Cbc),
            "ctr" => Ok(Mode::Ctr),
            "gcm" => Ok(Mode::Gcm),
            _ => Err(Error::UnknownMode),
        }
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads `r` in `buf`-sized chunks until EOF and hands each chunk to `step`, which writes its
/// output to `w` and returns how many bytes it wrote; returns the total.
fn pump<R: Read, W: Write>(
    r: &mut R,
    w: &mut W,
    buf: &mut [u8],
    mut step: impl FnMut(&mut [u8], &mut W) -> Result<u64, Error>,
) -> Result<u64, Error> {
    let mut written = 0u64;
    loop {
        let n = read_full(r, buf)?;
        if n == 0 {
            return Ok(written);
        }
        written += step(&mut buf[..n], w)?;
    }
}

/// Writes `out` and returns its length (the CBC chunk step).
fn emit<W: Write>(w: &mut W, out: &[u8]) -> Result<u64, Error> {
    w.write_all(out)?;
    Ok(out.len() as u64)
}

/// The CTR stream (the same in both directions).
fn ctr_stream<R: Read, W: Write>(
    key: &[u8],
    iv: &[u8],
    r: &mut R,
    w: &mut W,
    buf: &mut [u8],
) -> Result<u64, Error> {
    let mut c = Ctr::new(key, iv)?;
    pump(r, w, buf, |chunk, w| {
        c.apply(chunk);
        emit(w, chunk)
    })
}

/// Encrypts everything `r` yields into `w`, `IO_CHUNK` bytes at a time. GCM appends its 16-byte tag.
/// Returns the number of bytes written.
pub fn encrypt_stream<R: Read, W: Write>(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    r: &mut R,
    w: &mut W,
) -> Result<u64, Error> {
    let mut buf = vec![0u8; IO_CHUNK];
    let written = match mode {
        Mode::Cbc => {
            let mut e = CbcEncryptor::new(key, iv, true)?;
            let n = pump(r, w, &mut buf, |chunk, w| emit(w, &e.update(chunk)))?;
            n + emit(w, &e.finalize()?)?
        }
        Mode::Ctr => ctr_stream(key, iv, r, w, &mut buf)?,
        Mode::Gcm => {
            let mut g = Gcm::encryptor(key, iv)?;
            g.update_aad(aad)?;
            let n = pump(r, w, &mut buf, |chunk, w| {
                g.update(chunk)?;
                emit(w, chunk)
            })?;
            n + emit(w, &g.finalize())?
        }
    };
    buf.zeroize();
    w.flush()?;
    Ok(written)
}

/// Decrypts everything `r` yields into `w`. For GCM, `tag` = `None` takes the tag from the last 16
/// bytes of the input. GCM plaintext reaches `w` before the tag is checked: callers writing to a
/// file must discard it on error, as [`decrypt_file`] does.
pub fn decrypt_stream<R: Read, W: Write>(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag: Option<&[u8]>,
    r: &mut R,
    w: &mut W,
) -> Result<u64, Error> {
    let mut buf = vec![0u8; IO_CHUNK];
    let written = match mode {
        Mode::Cbc => {
            let mut d = CbcDecryptor::new(key, iv, true)?;
            let n = pump(r, w, &mut buf, |chunk, w| emit(w, &d.update(chunk)))?;
            n + emit(w, &d.finalize()?)?
        }
        Mode::Ctr => ctr_stream(key, iv, r, w, &mut buf)?,
        Mode::Gcm => {
            if let Some(t) = tag {
                if t.len() != GCM_TAG_LEN {
                    return Err(Error::InvalidTagLength);
                }
            }
            let mut g = Gcm::decryptor(key, iv)?;
            g.update_aad(aad)?;
            // Hold back the last 16 bytes when the tag is at the end of the stream.
            let hold = if tag.is_some() { 0 } else { GCM_TAG_LEN };
            let mut held: Vec<u8> = Vec::with_capacity(IO_CHUNK + GCM_TAG_LEN);
            let n = pump(r, w, &mut buf, |chunk, w| {
                held.extend_from_slice(chunk);
                if held.len() <= hold {
                    return Ok(0);
                }
                let k = held.len() - hold;
                g.update(&mut held[..k])?;
                let n = emit(w, &held[..k])?;
                held.drain(..k);
                Ok(n)
            })?;
            let expected: &[u8] = match tag {
                Some(t) => t,
                None if held.len() == GCM_TAG_LEN => &held,
                None => return Err(Error::InvalidTag),
            };
            g.verify(expected)?;
            n
        }
    };
    buf.zeroize();
    w.flush()?;
    Ok(written)
}

/// An output file written under a temporary name in the same directory and renamed into place
/// only by [`AtomicOutput::commit`]; dropped without commit, the temporary file is removed.
pub struct AtomicOutput {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<io::BufWriter<File>>,
}

impl AtomicOutput {
    /// Creates the temporary file beside `dest`.
    pub fn create(dest: &Path) -> io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name")
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(
            ".{}.{}.{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            // Decrypted documents are for the opening, not for every local user.
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&tmp)?;
        Ok(AtomicOutput {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(io::BufWriter::with_capacity(IO_CHUNK, f)),
        })
    }

    /// The writer of the temporary file.
    pub fn writer(&mut self) -> &mut io::BufWriter<File> {
        self.file.as_mut().expect("open until commit")
    }

    /// Flushes, syncs and renames the temporary file onto the destination.
    pub fn commit(mut self) -> io::Result<()> {
        let w = self.file.take().expect("open until commit");
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&self.tmp, &self.dest)
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn open_input(p: &Path) -> io::Result<io::BufReader<File>> {
    Ok(io::BufReader::with_capacity(IO_CHUNK, File::open(p)?))
}

/// Encrypts file `input` into `output` in `IO_CHUNK` pieces, never holding the whole file. The
/// output appears only when complete (temporary file + rename). Returns the bytes written.
pub fn encrypt_file(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    input: &Path,
    output: &Path,
) -> Result<u64, Error> {
    Sm4::new(key)?;
    let mut r = open_input(input)?;
    let mut out = AtomicOutput::create(output)?;
    let n = encrypt_stream(mode, key, iv, aad, &mut r, out.writer())?;
    out.commit()?;
    Ok(n)
}

/// Decrypts file `input` into `output` in `IO_CHUNK` pieces. The output appears only after the
/// padding or tag is verified; on any error no output file is left. Returns the bytes written.
pub fn decrypt_file(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag: Option<&[u8]>,
    input: &Path,
    output: &Path,
) -> Result<u64, Error> {
    Sm4::new(key)?;
    let mut r = open_input(input)?;
    let mut out = AtomicOutput::create(output)?;
    let n = decrypt_stream(mode, key, iv, aad, tag, &mut r, out.writer())?;
    out.commit()?;
    Ok(n)
}

// ------------------------------------------------------------------------------------------------ batch

/// Where a batch item's ciphertext comes from.
pub enum Input<'a> {
    /// A buffer.
    Data(&'a [u8]),
    /// A file, streamed.
    File(PathBuf),
}

/// One item of [`decrypt_batch`].
pub struct BatchItem<'a> {
    /// 16-byte key.
    pub key: &'a [u8],
    /// Mode (CBC with PKCS#7, CTR, GCM).
    pub mode: Mode,
    /// IV / initial counter / GCM IV.
    pub iv: &'a [u8],
    /// GCM associated data (ignored otherwise).
    pub aad: &'a [u8],
    /// GCM tag; `None` = the last 16 bytes of the input.
    pub tag: Option<&'a [u8]>,
    /// The ciphertext.
    pub input: Input<'a>,
    /// Write the plaintext to this file (atomically) instead of returning it.
    pub output: Option<PathBuf>,
    /// When set, the SM3 digest of the ciphertext as stored (GCM tag included) is computed in the
    /// same pass and must equal this; otherwise the item fails with [`Error::DigestMismatch`] and
    /// no plaintext is released.
    pub expect_sm3: Option<&'a [u8]>,
}

/// The outcome of one successful batch item.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// The plaintext.
    Data(Vec<u8>),
    /// The plaintext went to the item's output file; this many bytes.
    Written(u64),
}

/// Decrypts a buffer with `mode` in one call (GCM tag apart or at the end).
pub fn decrypt_bytes(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag: Option<&[u8]>,
    data: &[u8],
) -> Result<Vec<u8>, Error> {
    match mode {
        Mode::Cbc => cbc_decrypt(key, iv, data, true),
        Mode::Ctr => ctr_xor(key, iv, data),
        Mode::Gcm => match tag {
            Some(t) => gcm_decrypt(key, iv, aad, data, t),
            None if data.len() >= GCM_TAG_LEN => {
                let (ct, t) = data.split_at(data.len() - GCM_TAG_LEN);
                gcm_decrypt(key, iv, aad, ct, t)
            }
            None => Err(Error::InvalidTag),
        },
    }
}

/// Length of the plaintext buffer [`decrypt_into`] needs for `data`: the ciphertext length, less
/// the tag when a GCM tag is carried at the end; `None` when no buffer can fit (too short for a tag).
pub fn plaintext_capacity(mode: Mode, tag: Option<&[u8]>, data: &[u8]) -> Option<usize> {
    match (mode, tag) {
        (Mode::Gcm, None) => data.len().checked_sub(GCM_TAG_LEN),
        _ => Some(data.len()),
    }
}

/// [`decrypt_bytes`] into a caller's buffer of [`plaintext_capacity`] bytes (a Python `bytes`
/// allocated beforehand, so the plaintext is written once, by the worker thread): returns the
/// plaintext length (shorter than the buffer only for CBC's padding). On any error the buffer is
/// zeroed. Same results and errors as [`decrypt_bytes`] (tested).
pub fn decrypt_into(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag: Option<&[u8]>,
    data: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    let (ct, tag) = match (mode, tag) {
        (Mode::Gcm, None) if data.len() >= GCM_TAG_LEN => {
            let (ct, t) = data.split_at(data.len() - GCM_TAG_LEN);
            (ct, Some(t))
        }
        (Mode::Gcm, None) => return Err(Error::InvalidTag),
        _ => (data, tag),
    };
    assert_eq!(out.len(), ct.len(), "buffer of plaintext_capacity bytes");
    out.copy_from_slice(ct);
    let r = match mode {
        Mode::Cbc => cbc_decrypt_padded_in_place(key, iv, out),
        Mode::Ctr => Ctr::new(key, iv).map(|mut c| {
            c.apply(out);
            out.len()
        }),
        Mode::Gcm => {
            gcm_decrypt_in_place(key, iv, aad, out, tag.expect("set above")).map(|()| out.len())
        }
    };
    if r.is_err() {
        out.zeroize();
    }
    r
}

/// CBC decryption with PKCS#7 removal over the ciphertext in `buf`: the plaintext length.
fn cbc_decrypt_padded_in_place(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<usize, Error> {
    let mut d = CbcDecryptor::new(key, iv, true)?;
    if buf.is_empty() || !buf.len().is_multiple_of(BLOCK_LEN) {
        return Err(Error::DecryptionFailed);
    }
    d.decrypt_whole(buf);
    pkcs7_unpadded_len(buf).ok_or(Error::DecryptionFailed)
}

/// Encrypts a buffer with `mode` in one call; GCM appends the tag.
pub fn encrypt_bytes(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, Error> {
    match mode {
        Mode::Cbc => cbc_encrypt(key, iv, data, true),
        Mode::Ctr => ctr_xor(key, iv, data),
        Mode::Gcm => {
            let (mut ct, tag) = gcm_encrypt(key, iv, aad, data)?;
            ct.extend_from_slice(&tag);
            Ok(ct)
        }
    }
}

fn check_digest(
    expect: Option<&[u8]>,
    got: impl FnOnce() -> [u8; crate::sm3::DIGEST_LEN],
) -> Result<(), Error> {
    match expect {
        Some(e) if e != got().as_slice() => Err(Error::DigestMismatch),
        _ => Ok(()),
    }
}

/// A reader that hashes (SM3) everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: crate::sm3::Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn decrypt_item(it: &BatchItem<'_>) -> Result<Output, Error> {
    Sm4::new(it.key)?;
    match (&it.input, &it.output) {
        (Input::Data(d), None) => {
            check_digest(it.expect_sm3, || crate::sm3::digest(d))?;
            decrypt_bytes(it.mode, it.key, it.iv, it.aad, it.tag, d).map(Output::Data)
        }
        (Input::File(p), None) => {
            let d = std::fs::read(p)?;
            check_digest(it.expect_sm3, || crate::sm3::digest(&d))?;
            decrypt_bytes(it.mode, it.key, it.iv, it.aad, it.tag, &d).map(Output::Data)
        }
        (input, Some(o)) => {
            let reader: Box<dyn Read + '_> = match input {
                Input::Data(d) => Box::new(io::Cursor::new(*d)),
                Input::File(p) => Box::new(open_input(p)?),
            };
            let mut r = HashingReader {
                inner: reader,
                hasher: crate::sm3::Hasher::new(),
            };
            let mut out = AtomicOutput::create(o)?;
            let n = decrypt_stream(it.mode, it.key, it.iv, it.aad, it.tag, &mut r, out.writer())?;
            // The stream has been read to its end: the digest covers the whole stored ciphertext.
            check_digest(it.expect_sm3, || r.hasher.digest())?;
            out.commit()?;
            Ok(Output::Written(n))
        }
    }
}

/// Maps in the pages of a fresh output buffer with one `madvise(MADV_POPULATE_WRITE)` (Linux 5.14+)
/// instead of one page fault per 4 KiB on first write: a 1 MiB plaintext otherwise takes 256
/// faults, which cost more than its decryption. Only a hint: on failure (older kernel, other OS)
/// the writes fault the pages in as before.
fn prefault(buf: &mut [u8]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        const MADV_POPULATE_WRITE: i32 = 23;
        extern "C" {
            fn madvise(addr: *mut core::ffi::c_void, len: usize, advice: i32) -> i32;
        }
        let start = buf.as_mut_ptr() as usize;
        let first = start.next_multiple_of(PAGE);
        let end = (start + buf.len()) / PAGE * PAGE;
        if end > first {
            // SAFETY: [first, end) lies inside `buf`, which we hold mutably; populating pages
            // for writing does not change their contents.
            unsafe {
                madvise(first as *mut _, end - first, MADV_POPULATE_WRITE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Where [`decrypt_batch_into`] left an item's result.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchResult {
    /// The plaintext is the first this many bytes of the item's buffer.
    InBuffer(usize),
    /// Items without a buffer: as [`decrypt_batch`].
    Output(Output),
}

/// [`decrypt_batch`] where the caller may give a plaintext buffer per in-memory item (of
/// [`plaintext_capacity`] bytes). The Python batch passes freshly allocated `bytes` objects: the
/// plaintext is then written once, in parallel, instead of into a `Vec` that the calling thread
/// copies again under the GIL (1 → 2 threads went from 0.91x to ~1.9x; see docs/performance.md).
pub fn decrypt_batch_into(
    items: &[BatchItem<'_>],
    bufs: Vec<Option<&mut [u8]>>,
) -> Vec<Result<BatchResult, Error>> {
    use rayon::prelude::*;
    assert_eq!(items.len(), bufs.len(), "one buffer slot per item");
    items
        .par_iter()
        .zip(bufs)
        .map(|(it, buf)| match (buf, &it.input, &it.output) {
            (Some(buf), Input::Data(d), None) => {
                prefault(buf);
                Sm4::new(it.key)?;
                check_digest(it.expect_sm3, || crate::sm3::digest(d))?;
                decrypt_into(it.mode, it.key, it.iv, it.aad, it.tag, d, buf)
                    .map(BatchResult::InBuffer)
            }
            _ => decrypt_item(it).map(BatchResult::Output),
        })
        .collect()
}

/// Decrypts many items in parallel (rayon, all cores): one result per item, in order; a bad item
/// (wrong key length, tampered data, missing file...) yields its own error and never fails the batch.
pub fn decrypt_batch(items: &[BatchItem<'_>]) -> Vec<Result<Output, Error>> {
    use rayon::prelude::*;
    items.par_iter().map(decrypt_item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::sm4::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};

    /// xorshift64*: deterministic test data, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn block_matches_rustcrypto_sm4() {
        let mut r = Rng(1);
        for _ in 0..2000 {
            let key = r.bytes(16);
            let nblocks = 1 + (r.next() % 9) as usize;
            let blocks = r.bytes(16 * nblocks);
            let mut ours = blocks.clone();
            Sm4::new(&key).unwrap().encrypt_blocks(&mut ours);
            let theirs_c = ::sm4::Sm4::new_from_slice(&key).unwrap();
            for (i, b) in blocks.chunks(16).enumerate() {
                let mut blk = ::sm4::cipher::Block::<::sm4::Sm4>::try_from(b).unwrap();
                theirs_c.encrypt_block(&mut blk);
                assert_eq!(&ours[i * 16..i * 16 + 16], &blk[..]);
            }
            Sm4::new(&key).unwrap().decrypt_blocks(&mut ours);
            assert_eq!(ours, blocks);
        }
    }

    #[test]
    fn modes_match_rustcrypto_modes() {
        use ::cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt};
        use aes_gcm::aead::{Aead, KeyInit as _};
        let mut r = Rng(7);
        for i in 0..1500 {
            let len = match i % 5 {
                0 => 16 * (r.next() % 8) as usize,
                1 => 0,
                _ => (r.next() % 300) as usize,
            };
            let (key, iv, data) = (r.bytes(16), r.bytes(16), r.bytes(len));
            let cbc_theirs = ::cbc::Encryptor::<::sm4::Sm4>::new_from_slices(&key, &iv)
                .unwrap()
                .encrypt_padded_vec::<Pkcs7>(&data);
            assert_eq!(cbc_encrypt(&key, &iv, &data, true).unwrap(), cbc_theirs);
            assert_eq!(cbc_decrypt(&key, &iv, &cbc_theirs, true).unwrap(), data);
            let back = ::cbc::Decryptor::<::sm4::Sm4>::new_from_slices(&key, &iv)
                .unwrap()
                .decrypt_padded_vec::<Pkcs7>(&cbc_theirs)
                .unwrap();
            assert_eq!(back, data);

            let mut ctr_theirs = data.clone();
            ::ctr::Ctr128BE::<::sm4::Sm4>::new_from_slices(&key, &iv)
                .unwrap()
                .apply_keystream(&mut ctr_theirs);
            assert_eq!(ctr_xor(&key, &iv, &data).unwrap(), ctr_theirs);

            let nonce = &iv[..12];
            let g = aes_gcm::AesGcm::<::sm4::Sm4, ::sm4::cipher::consts::U12>::new_from_slice(&key)
                .unwrap();
            let theirs = g
                .encrypt(nonce.try_into().unwrap(), data.as_slice())
                .unwrap();
            let (c, t) = gcm_encrypt(&key, nonce, &[], &data).unwrap();
            assert_eq!([c.as_slice(), t.as_slice()].concat(), theirs);
        }
    }

    #[test]
    fn simd_keystream_matches_table_keystream_across_counter_wraps() {
        // The SIMD path (when this CPU/env has one) against the table path of the same key, for
        // both counter kinds, starting just below the 32-bit and the 128-bit wrap, at odd splits.
        let mut r = Rng(7);
        let key = r.bytes(16);
        let with_fast = Sm4::new(&key).unwrap();
        let mut table = with_fast.clone();
        table.fast = None;
        for (start, full) in [
            (u128::MAX - 5, true),
            (0x0123_4567_89ab_cdef_0011_2233_ffff_fffau128, false),
            (0x0123_4567_89ab_cdef_0011_2233_0000_0002u128, false),
        ] {
            let data = r.bytes(64 * 10 + 23);
            let mut a = data.clone();
            let mut b = data.clone();
            let mut ka = Keystream::new(with_fast.clone(), start, full);
            let mut kb = Keystream::new(table.clone(), start, full);
            for (x, y) in [(0, 5), (5, 200), (200, 200), (200, 600), (600, a.len())] {
                ka.apply(&mut a[x..y]);
                kb.apply(&mut b[x..y]);
            }
            assert_eq!(a, b, "start {start:#x} full {full}");
            assert_eq!(ka.counter, kb.counter);
        }
        let mut a = r.bytes(64 * 5);
        let mut b = a.clone();
        with_fast.decrypt_blocks(&mut a);
        table.decrypt_blocks(&mut b);
        assert_eq!(a, b);
        with_fast.encrypt_blocks(&mut a);
        table.encrypt_blocks(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn ctr_counter_wraps_at_128_bits() {
        let key = [9u8; 16];
        let iv = [0xffu8; 16];
        let ks = ctr_xor(&key, &iv, &[0u8; 32]).unwrap();
        let c = Sm4::new(&key).unwrap();
        let (mut a, mut b) = ([0xffu8; 16], [0u8; 16]);
        c.encrypt_block(&mut a);
        c.encrypt_block(&mut b);
        assert_eq!(&ks[..16], &a);
        assert_eq!(&ks[16..], &b);
    }

    #[test]
    fn streaming_matches_one_shot_at_odd_splits() {
        let mut r = Rng(3);
        let (key, iv, aad) = (r.bytes(16), r.bytes(16), r.bytes(20));
        let data = r.bytes(1000);
        for step in [1usize, 5, 16, 17, 63, 64, 65, 333] {
            let mut e = CbcEncryptor::new(&key, &iv, true).unwrap();
            let mut out = Vec::new();
            for p in data.chunks(step) {
                out.extend(e.update(p));
            }
            out.extend(e.finalize().unwrap());
            assert_eq!(out, cbc_encrypt(&key, &iv, &data, true).unwrap());
            let mut d = CbcDecryptor::new(&key, &iv, true).unwrap();
            let mut back = Vec::new();
            for p in out.chunks(step) {
                back.extend(d.update(p));
            }
            back.extend(d.finalize().unwrap());
            assert_eq!(back, data);

            let mut c = Ctr::new(&key, &iv).unwrap();
            let mut buf = data.clone();
            for p in buf.chunks_mut(step) {
                c.apply(p);
            }
            assert_eq!(buf, ctr_xor(&key, &iv, &data).unwrap());

            let mut g = Gcm::encryptor(&key, &iv[..12]).unwrap();
            g.update_aad(&aad).unwrap();
            let mut buf = data.clone();
            for p in buf.chunks_mut(step) {
                g.update(p).unwrap();
            }
            let (c1, t1) = gcm_encrypt(&key, &iv[..12], &aad, &data).unwrap();
            assert_eq!((buf, g.finalize()), (c1, t1));
        }
    }

    #[test]
    fn cbc_padding_failures_are_one_generic_error() {
        let key = [1u8; 16];
        let iv = [2u8; 16];
        let ct = cbc_encrypt(&key, &iv, b"hello world", true).unwrap();
        for bad in [ct[..ct.len() - 1].to_vec(), Vec::new(), {
            let mut t = ct.clone();
            t[0] ^= 1; // corrupts padding of block 2 only via chaining? no: last block is block 1 here
            t
        }] {
            match cbc_decrypt(&key, &iv, &bad, true) {
                Err(Error::DecryptionFailed) => {}
                Ok(p) => assert_ne!(p, b"hello world"), // a flipped IV-side byte can still unpad
                Err(e) => panic!("not the generic error: {e}"),
            }
        }
        // Every single bad padding value gives the same error.
        let c = Sm4::new(&key).unwrap();
        for p in [0u8, 17, 255] {
            let mut blk = [p; 16];
            blk[0] ^= iv[0];
            for (b, v) in blk.iter_mut().zip(iv.iter()).skip(1) {
                *b ^= v;
            }
            c.encrypt_block(&mut blk);
            assert!(matches!(
                cbc_decrypt(&key, &iv, &blk, true),
                Err(Error::DecryptionFailed)
            ));
        }
        assert_eq!(pkcs7_unpadded_len(&[16u8; 16]), Some(0));
        let mut b = [3u8; 16];
        b[13] = 4;
        assert_eq!(pkcs7_unpadded_len(&b), None);
    }

    #[test]
    fn files_round_trip_and_failures_leave_no_output() {
        let dir = std::env::temp_dir().join(format!("bk-sm4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Rng(11);
        let data = r.bytes(2 * IO_CHUNK + 1234);
        let (key, iv16, aad) = (r.bytes(16), r.bytes(16), r.bytes(13));
        let pin = dir.join("plain");
        std::fs::write(&pin, &data).unwrap();
        for mode in [Mode::Cbc, Mode::Ctr, Mode::Gcm] {
            let iv = if mode == Mode::Gcm {
                &iv16[..12]
            } else {
                &iv16[..]
            };
            let enc = dir.join("enc");
            let dec = dir.join("dec");
            encrypt_file(mode, &key, iv, &aad, &pin, &enc).unwrap();
            let ct = std::fs::read(&enc).unwrap();
            assert_eq!(ct, encrypt_bytes(mode, &key, iv, &aad, &data).unwrap());
            decrypt_file(mode, &key, iv, &aad, None, &enc, &dec).unwrap();
            assert_eq!(std::fs::read(&dec).unwrap(), data);
            std::fs::remove_file(&dec).unwrap();
            if mode != Mode::Ctr {
                let mut bad = ct.clone();
                let k = bad.len() - 1;
                bad[k] ^= 0x80;
                std::fs::write(&enc, &bad).unwrap();
                assert!(decrypt_file(mode, &key, iv, &aad, None, &enc, &dec).is_err());
                assert!(!dec.exists());
                std::fs::write(&enc, &ct[..ct.len() - 5]).unwrap();
                assert!(decrypt_file(mode, &key, iv, &aad, None, &enc, &dec).is_err());
                assert!(!dec.exists());
            }
            assert!(matches!(
                decrypt_file(mode, &key[..15], iv, &aad, None, &enc, &dec),
                Err(Error::InvalidKeyLength)
            ));
            assert!(!dec.exists());
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn batch_checks_the_ciphertext_digest_in_the_same_pass() {
        let dir = std::env::temp_dir().join(format!("bk-sm4-dg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Rng(21);
        let (key, iv) = (r.bytes(16), r.bytes(12));
        let msg = r.bytes(3 * IO_CHUNK + 5);
        let ct = encrypt_bytes(Mode::Gcm, &key, &iv, b"", &msg).unwrap();
        let good = crate::sm3::digest(&ct);
        let mut bad = good;
        bad[0] ^= 1;
        let cpath = dir.join("ct");
        std::fs::write(&cpath, &ct).unwrap();
        let item = |input, out: Option<PathBuf>, d: &'static [u8; 32]| BatchItem {
            key: &key,
            mode: Mode::Gcm,
            iv: &iv,
            aad: b"",
            tag: None,
            input,
            output: out,
            expect_sm3: Some(d),
        };
        let good: &'static [u8; 32] = Box::leak(Box::new(good));
        let bad: &'static [u8; 32] = Box::leak(Box::new(bad));
        let o1 = dir.join("o1");
        let o2 = dir.join("o2");
        let items = vec![
            item(Input::Data(&ct), None, good),
            item(Input::Data(&ct), None, bad),
            item(Input::File(cpath.clone()), Some(o1.clone()), good),
            item(Input::File(cpath.clone()), Some(o2.clone()), bad),
            item(Input::File(cpath.clone()), None, bad),
        ];
        let res = decrypt_batch(&items);
        assert_eq!(res[0].as_ref().unwrap(), &Output::Data(msg.clone()));
        assert!(matches!(res[1], Err(Error::DigestMismatch)));
        assert_eq!(res[2].as_ref().unwrap(), &Output::Written(msg.len() as u64));
        assert_eq!(std::fs::read(&o1).unwrap(), msg);
        assert!(matches!(res[3], Err(Error::DigestMismatch)));
        assert!(!o2.exists());
        assert!(matches!(res[4], Err(Error::DigestMismatch)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn decrypt_into_matches_decrypt_bytes_on_good_and_bad_input() {
        let mut r = Rng(33);
        let modes = [Mode::Cbc, Mode::Ctr, Mode::Gcm];
        let mut items_data = Vec::new();
        for i in 0..600 {
            let mode = modes[i % 3];
            let key = if i % 41 == 0 {
                r.bytes(15)
            } else {
                r.bytes(16)
            };
            let iv = if mode == Mode::Gcm {
                r.bytes(12)
            } else {
                r.bytes(16)
            };
            let aad = r.bytes(i % 7);
            let len = (r.next() % 200) as usize;
            let msg = r.bytes(len);
            let good_key = if key.len() == 16 {
                key.clone()
            } else {
                r.bytes(16)
            };
            let mut ct = encrypt_bytes(mode, &good_key, &iv, &aad, &msg).unwrap();
            match i % 5 {
                0 if !ct.is_empty() => {
                    let at = (r.next() as usize) % ct.len();
                    ct[at] ^= 1; // tamper
                }
                1 => {
                    let at = (r.next() as usize) % (ct.len() + 1);
                    ct.truncate(at); // cut
                } // cut
                _ => {}
            }
            let tag = (mode == Mode::Gcm && i % 4 == 0 && ct.len() >= 16)
                .then(|| ct.split_off(ct.len() - 16));
            items_data.push((mode, key, iv, aad, tag, ct));
        }
        for (mode, key, iv, aad, tag, ct) in &items_data {
            let want = decrypt_bytes(*mode, key, iv, aad, tag.as_deref(), ct);
            let Some(cap) = plaintext_capacity(*mode, tag.as_deref(), ct) else {
                assert!(matches!(want, Err(Error::InvalidTag)));
                continue;
            };
            let mut buf = vec![0xa5u8; cap];
            let got = decrypt_into(*mode, key, iv, aad, tag.as_deref(), ct, &mut buf);
            match (&want, &got) {
                (Ok(w), Ok(n)) => assert_eq!(&buf[..*n], w.as_slice()),
                (Err(a), Err(b)) => {
                    assert_eq!(format!("{a:?}"), format!("{b:?}"));
                    assert!(
                        buf.iter().all(|&b| b == 0),
                        "failed item leaves a zeroed buffer"
                    );
                }
                _ => panic!("{mode:?}: {want:?} vs {got:?}"),
            }
        }
        // The batch with buffers gives the same per-item outcome as the batch without.
        let items: Vec<BatchItem<'_>> = items_data
            .iter()
            .map(|(mode, key, iv, aad, tag, ct)| BatchItem {
                key,
                mode: *mode,
                iv,
                aad,
                tag: tag.as_deref(),
                input: Input::Data(ct),
                output: None,
                expect_sm3: None,
            })
            .collect();
        let plain = decrypt_batch(&items);
        let mut store: Vec<Vec<u8>> = items
            .iter()
            .map(|it| match it.input {
                Input::Data(d) => vec![0; plaintext_capacity(it.mode, it.tag, d).unwrap_or(0)],
                Input::File(_) => unreachable!(),
            })
            .collect();
        let bufs = store
            .iter_mut()
            .enumerate()
            .map(|(i, b)| (i % 2 == 0).then_some(b.as_mut_slice()))
            .collect();
        let into = decrypt_batch_into(&items, bufs);
        for (i, (p, q)) in plain.iter().zip(&into).enumerate() {
            match (p, q) {
                (Ok(Output::Data(w)), Ok(BatchResult::InBuffer(n))) => {
                    assert_eq!(&store[i][..*n], w.as_slice())
                }
                (Ok(a), Ok(BatchResult::Output(b))) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
                _ => panic!("item {i}: {p:?} vs {q:?}"),
            }
        }
    }

    #[test]
    fn batch_keeps_going_past_bad_items() {
        let mut r = Rng(5);
        let (key, iv) = (r.bytes(16), r.bytes(12));
        let msgs: Vec<Vec<u8>> = (0..20).map(|i| r.bytes(i * 37)).collect();
        let cts: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| encrypt_bytes(Mode::Gcm, &key, &iv, b"", m).unwrap())
            .collect();
        let mut tampered = cts[7].clone();
        tampered[0] ^= 1;
        let items: Vec<BatchItem<'_>> = cts
            .iter()
            .enumerate()
            .map(|(i, c)| BatchItem {
                key: if i == 3 { &key[..8] } else { &key },
                mode: Mode::Gcm,
                iv: &iv,
                aad: b"",
                tag: None,
                input: if i == 7 {
                    Input::Data(&tampered)
                } else if i == 9 {
                    Input::File(PathBuf::from("/nonexistent/bk"))
                } else {
                    Input::Data(c)
                },
                output: None,
                expect_sm3: None,
            })
            .collect();
        let res = decrypt_batch(&items);
        for (i, r) in res.iter().enumerate() {
            match i {
                3 => assert!(matches!(r, Err(Error::InvalidKeyLength))),
                7 => assert!(matches!(r, Err(Error::InvalidTag))),
                9 => assert!(matches!(r, Err(Error::Io(_)))),
                _ => assert_eq!(r.as_ref().unwrap(), &Output::Data(msgs[i].clone())),
            }
        }
    }
}
