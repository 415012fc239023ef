//! SM3 hash (GB/T 32905-2016), HMAC-SM3 (RFC 2104 / GB/T 15852.2 with SM3), streaming over files
//! and batch digests on all cores.
//!
//! The compression function is our own (fully specified by GB/T 32905 §5.3), chosen at run time:
//! hand-scheduled assembly (`simd::sm3_asm`) where the CPU has BMI2 and AVX-512VL, otherwise the
//! plain Rust here, whose message expansion is computed for the whole block first and whose 64
//! rounds are unrolled with the additions ordered so that the newest values enter last. It is
//! checked against the GB/T vectors, RustCrypto's `sm3` (cargo tests) and OpenSSL through
//! `cryptography` (pytest).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Output length in bytes (GB/T 32905 §4).
pub const DIGEST_LEN: usize = 32;
/// Block length in bytes (GB/T 32905 §5.2).
pub const BLOCK_LEN: usize = 64;
/// Shortest accepted truncated HMAC tag: half the output, per RFC 2104 §5.
pub const HMAC_MIN_TAG_LEN: usize = DIGEST_LEN / 2;
/// Read size of the file functions.
pub const IO_CHUNK: usize = 1 << 20;

/// Initial value IV (§4.1).
pub(crate) const IV: [u32; 8] = [
    0x7380_166f,
    0x4914_b2b9,
    0x1724_42d7,
    0xda8a_0600,
    0xa96f_30bc,
    0x1631_38aa,
    0xe38d_ee4d,
    0xb0fb_0e4e,
];

/// Round constants T_j (§4.2), already rotated left by j mod 32 as used in SS1 (§5.3.3); a
/// static so that [`tj`] can read it through a pointer.
static TJ: [u32; 64] = crate::simd::sm3_scalar::TJ_ROT;

/// T_j as an opaque value: a volatile read keeps the compiler from folding the constant into the
/// last addition, so `rotl(A,12) + T_j` is formed before E (the later value) arrives.
#[inline(always)]
fn tj(j: usize) -> u32 {
    // SAFETY: `j < 64` at every call site (rounds 0..64), so the pointer is in bounds and aligned.
    unsafe { core::ptr::read_volatile(TJ.as_ptr().add(j)) }
}

#[inline(always)]
fn p0(x: u32) -> u32 {
    x ^ x.rotate_left(9) ^ x.rotate_left(17)
}

#[inline(always)]
fn p1(x: u32) -> u32 {
    x ^ x.rotate_left(15) ^ x.rotate_left(23)
}

#[inline(always)]
fn ff0(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

#[inline(always)]
fn ff1(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | ((x | y) & z)
}

#[inline(always)]
fn gg1(x: u32, y: u32, z: u32) -> u32 {
    ((y ^ z) & x) ^ z
}

/// Compression function CF (§5.3.2, §5.3.3) over every 64-byte block of `blocks`, on the
/// single-stream backend of `simd::sm3` (the assembly where the CPU has BMI2 and AVX-512VL,
/// otherwise [`compress_plain`]).
#[inline]
pub(crate) fn compress(v: &mut [u32; 8], blocks: &[u8]) {
    (crate::simd::sm3::detected_compressor())(v, blocks)
}

/// This module's own CF in plain Rust (the portable and BMI2 single-stream compression of
/// `simd::sm3_scalar`).
#[inline(always)]
pub(crate) fn compress_plain(v: &mut [u32; 8], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % BLOCK_LEN, 0);
    for block in blocks.chunks_exact(BLOCK_LEN) {
        compress_block(v, block.try_into().expect("64-byte block"));
    }
}

#[inline(always)]
fn compress_block(v: &mut [u32; 8], block: &[u8; BLOCK_LEN]) {
    let mut w = [0u32; 68];
    for (i, c) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *v;
    // Message expansion (§5.3.2) of W_j, interleaved with the rounds that need it.
    macro_rules! expand {
        ($j:expr) => {
            w[$j] = p1(w[$j - 16] ^ w[$j - 9] ^ w[$j - 3].rotate_left(15))
                ^ w[$j - 13].rotate_left(7)
                ^ w[$j - 6];
        };
    }
    // One round (§5.3.3); the register renaming (D <- C, C <- B<<<9, ...) is done by rotating the
    // argument order between calls instead of moving values. W'_j = W_j ^ W_j+4.
    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $j:expr, $ff:ident, $gg:ident) => {{
            let a12 = $a.rotate_left(12);
            let k = a12.wrapping_add(tj($j));
            let ss1 = k.wrapping_add($e).rotate_left(7);
            let ss2 = ss1 ^ a12;
            $d = $ff($a, $b, $c)
                .wrapping_add($d.wrapping_add(w[$j] ^ w[$j + 4]))
                .wrapping_add(ss2);
            $h = p0($gg($e, $f, $g)
                .wrapping_add($h.wrapping_add(w[$j]))
                .wrapping_add(ss1));
            $b = $b.rotate_left(9);
            $f = $f.rotate_left(19);
        }};
    }
    macro_rules! four {
        ($k:expr, $ff:ident, $gg:ident) => {
            if 4 * $k + 4 >= 16 {
                expand!(4 * $k + 4);
                expand!(4 * $k + 5);
                expand!(4 * $k + 6);
                expand!(4 * $k + 7);
            }
            round!(a, b, c, d, e, f, g, h, 4 * $k, $ff, $gg);
            round!(d, a, b, c, h, e, f, g, 4 * $k + 1, $ff, $gg);
            round!(c, d, a, b, g, h, e, f, 4 * $k + 2, $ff, $gg);
            round!(b, c, d, a, f, g, h, e, 4 * $k + 3, $ff, $gg);
        };
    }
    four!(0, ff0, ff0);
    four!(1, ff0, ff0);
    four!(2, ff0, ff0);
    four!(3, ff0, ff0);
    four!(4, ff1, gg1);
    four!(5, ff1, gg1);
    four!(6, ff1, gg1);
    four!(7, ff1, gg1);
    four!(8, ff1, gg1);
    four!(9, ff1, gg1);
    four!(10, ff1, gg1);
    four!(11, ff1, gg1);
    four!(12, ff1, gg1);
    four!(13, ff1, gg1);
    four!(14, ff1, gg1);
    four!(15, ff1, gg1);
    for (s, x) in v.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s ^= x;
    }
}

/// Incremental SM3 (padding §5.2, iterated compression §5.3) for data that arrives in pieces.
#[derive(Clone)]
pub struct Hasher {
    v: [u32; 8],
    buf: [u8; BLOCK_LEN],
    buf_len: usize,
    total: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        self.v.zeroize();
        self.buf.zeroize();
    }
}

impl Hasher {
    /// A fresh hasher (IV of §4.1).
    pub fn new() -> Self {
        Hasher {
            v: IV,
            buf: [0; BLOCK_LEN],
            buf_len: 0,
            total: 0,
        }
    }

    /// Absorbs `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (BLOCK_LEN - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < BLOCK_LEN {
                return;
            }
            let block = self.buf;
            compress(&mut self.v, &block);
            self.buf_len = 0;
        }
        let whole = data.len() - data.len() % BLOCK_LEN;
        compress(&mut self.v, &data[..whole]);
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// The digest of everything absorbed so far; the hasher itself is left unchanged.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        // Padding (§5.2): 1 bit, zeros to 448 mod 512, then the 64-bit big-endian bit length.
        let mut v = self.v;
        let mut tail = [0u8; 2 * BLOCK_LEN];
        tail[..self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
        tail[self.buf_len] = 0x80;
        let n = if self.buf_len < BLOCK_LEN - 8 {
            BLOCK_LEN
        } else {
            2 * BLOCK_LEN
        };
        tail[n - 8..n].copy_from_slice(&self.total.wrapping_mul(8).to_be_bytes());
        compress(&mut v, &tail[..n]);
        tail.zeroize();
        let mut out = [0u8; DIGEST_LEN];
        for (o, x) in out.chunks_exact_mut(4).zip(v) {
            o.copy_from_slice(&x.to_be_bytes());
        }
        out
    }
}

/// One-shot SM3 of `data` (GB/T 32905 §5).
pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
    let mut h = Hasher::new();
    h.update(data);
    h.digest()
}

/// SM3 of everything `r` yields, read `IO_CHUNK` bytes at a time.
pub fn digest_reader<R: Read>(r: &mut R) -> io::Result<[u8; DIGEST_LEN]> {
    let mut h = Hasher::new();
    let mut buf = vec![0u8; IO_CHUNK];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.digest())
}

/// SM3 of the file at `path`, streamed (never loaded whole).
pub fn digest_file(path: &Path) -> io::Result<[u8; DIGEST_LEN]> {
    digest_reader(&mut File::open(path)?)
}

/// SM3 of many buffers in parallel (rayon): one digest per buffer, in order.
///
/// When a multi-buffer SIMD backend is active ([`crate::simd::sm3::digest_many`], AVX-512 16/32
/// lanes or AVX2 8 lanes), the buffers are split into one group per rayon thread (at least 32 per
/// group so the lanes stay full) and each group is hashed multi-buffer; with
/// `BIDKERNEL_FORCE_PORTABLE=1` or without such a backend, each buffer is hashed by [`digest`].
pub fn digest_many(bufs: &[&[u8]]) -> Vec<[u8; DIGEST_LEN]> {
    if multi_buffer_active() && bufs.len() > 1 {
        let threads = rayon::current_num_threads().max(1);
        let group = bufs.len().div_ceil(threads).max(32);
        let parts: Vec<Vec<[u8; DIGEST_LEN]>> = bufs
            .par_chunks(group)
            .map(crate::simd::sm3::digest_many)
            .collect();
        return parts.into_iter().flatten().collect();
    }
    bufs.par_iter().map(|b| digest(b)).collect()
}

/// Whether [`digest_many`] uses a multi-buffer SIMD backend.
pub fn multi_buffer_active() -> bool {
    crate::simd::sm3::MbBackend::detect() != crate::simd::sm3::MbBackend::Serial
}

/// Name of the multi-buffer backend [`digest_many`] uses (`"serial"`: one buffer after another
/// with this module's own compression function).
pub fn active_mb_backend() -> &'static str {
    crate::simd::sm3::active_mb_backend()
}

/// Name of the single-stream backend [`digest`] and [`Hasher`] use (`"scalar"`: this module's
/// own plain-Rust compression, also when the portable paths are forced).
pub fn active_backend() -> &'static str {
    use crate::simd::sm3::Backend;
    match Backend::detect() {
        Backend::Portable => Backend::Scalar.name(),
        b => b.name(),
    }
}

/// SM3 of many files in parallel: one result per path, in order; an unreadable file gives an error
/// for that item only.
pub fn digest_files(paths: &[PathBuf]) -> Vec<io::Result<[u8; DIGEST_LEN]>> {
    paths.par_iter().map(|p| digest_file(p)).collect()
}

/// HMAC-SM3 of `msg` under `key` (RFC 2104 §2 with SM3, B = 64, L = 32; keys longer than 64 bytes
/// are hashed first).
pub fn hmac(key: &[u8], msg: &[u8]) -> [u8; DIGEST_LEN] {
    let mut k0 = [0u8; BLOCK_LEN];
    if key.len() > BLOCK_LEN {
        k0[..DIGEST_LEN].copy_from_slice(&digest(key));
    } else {
        k0[..key.len()].copy_from_slice(key);
    }
    let mut pad = [0u8; BLOCK_LEN];
    for (p, k) in pad.iter_mut().zip(k0.iter()) {
        *p = k ^ 0x36;
    }
    let mut inner = Hasher::new();
    inner.update(&pad);
    inner.update(msg);
    let mut ih = inner.digest();
    for (p, k) in pad.iter_mut().zip(k0.iter()) {
        *p = k ^ 0x5c;
    }
    let mut outer = Hasher::new();
    outer.update(&pad);
    outer.update(&ih);
    k0.zeroize();
    pad.zeroize();
    ih.zeroize();
    outer.digest()
}

/// Checks an HMAC-SM3 tag in constant time. `tag` may be truncated to its leftmost bytes (RFC 2104
/// §5), but not below [`HMAC_MIN_TAG_LEN`] bytes; a shorter or longer tag is rejected.
pub fn hmac_verify(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    if tag.len() < HMAC_MIN_TAG_LEN || tag.len() > DIGEST_LEN {
        return false;
    }
    let mut full = hmac(key, msg);
    let ok = bool::from(full[..tag.len()].ct_eq(tag));
    full.zeroize();
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_matches_one_shot_at_every_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let want = digest(&data);
        for split in 0..data.len() {
            let mut h = Hasher::new();
            h.update(&data[..split]);
            let copy = h.clone();
            h.update(&data[split..]);
            assert_eq!(h.digest(), want);
            assert_eq!(copy.digest(), digest(&data[..split]));
        }
    }

    #[test]
    fn matches_rustcrypto_sm3_and_hmac() {
        use ::sm3::Digest;
        use hmac::{KeyInit, Mac};
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in (0..300).chain([1000, 4096, 10_000]) {
            let data: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            let theirs: [u8; 32] = ::sm3::Sm3::digest(&data).into();
            assert_eq!(digest(&data), theirs, "len {n}");
            let key: Vec<u8> = (0..(next() % 150) as usize).map(|_| next() as u8).collect();
            let mut m = hmac::Hmac::<::sm3::Sm3>::new_from_slice(&key).unwrap();
            m.update(&data);
            let want: [u8; 32] = m.finalize().into_bytes().into();
            assert_eq!(hmac(&key, &data), want, "len {n} key {}", key.len());
        }
    }

    #[test]
    fn truncated_tags_below_half_are_rejected() {
        let t = hmac(b"k", b"m");
        assert!(hmac_verify(b"k", b"m", &t));
        assert!(hmac_verify(b"k", b"m", &t[..16]));
        assert!(!hmac_verify(b"k", b"m", &t[..15]));
        assert!(!hmac_verify(b"k", b"m", &[]));
    }

    #[test]
    fn files_batch_reports_missing_file_per_item() {
        let dir = std::env::temp_dir().join(format!("bk-sm3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        std::fs::write(&a, vec![5u8; 3 * IO_CHUNK + 17]).unwrap();
        let r = digest_files(&[a.clone(), dir.join("missing"), a.clone()]);
        let want = digest(&vec![5u8; 3 * IO_CHUNK + 17]);
        assert_eq!(r[0].as_ref().unwrap(), &want);
        assert!(r[1].is_err());
        assert_eq!(r[2].as_ref().unwrap(), &want);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
