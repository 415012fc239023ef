//! SM3 hash (GB/T 32905-2016) over RustCrypto's `sm3`, HMAC-SM3 (RFC 2104 / GB/T 15852.2 with
//! SM3), streaming over files and batch digests on all cores.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ::sm3::{Digest, Sm3};
use hmac::{KeyInit, Mac};
use rayon::prelude::*;

/// Output length in bytes (GB/T 32905 §4).
pub const DIGEST_LEN: usize = 32;
/// Block length in bytes (GB/T 32905 §5.2).
pub const BLOCK_LEN: usize = 64;
/// Shortest accepted truncated HMAC tag: half the output, per RFC 2104 §5.
pub const HMAC_MIN_TAG_LEN: usize = DIGEST_LEN / 2;
/// Read size of the file functions.
pub const IO_CHUNK: usize = 1 << 20;

/// One-shot SM3 of `data` (GB/T 32905 §5).
pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
    Sm3::digest(data).into()
}

/// Incremental SM3 (padding §5.2, iterated compression §5.3) for data that arrives in pieces.
#[derive(Clone, Default)]
pub struct Hasher(Sm3);

impl Hasher {
    /// A fresh hasher (IV of §4.1).
    pub fn new() -> Self {
        Hasher(Sm3::new())
    }

    /// Absorbs `data`.
    pub fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    /// The digest of everything absorbed so far; the hasher itself is left unchanged.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        self.0.clone().finalize().into()
    }
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
pub fn digest_many(bufs: &[&[u8]]) -> Vec<[u8; DIGEST_LEN]> {
    bufs.par_iter().map(|b| digest(b)).collect()
}

/// SM3 of many files in parallel: one result per path, in order; an unreadable file gives an error
/// for that item only.
pub fn digest_files(paths: &[PathBuf]) -> Vec<io::Result<[u8; DIGEST_LEN]>> {
    paths.par_iter().map(|p| digest_file(p)).collect()
}

type HmacSm3 = hmac::Hmac<Sm3>;

/// HMAC-SM3 of `msg` under `key` (RFC 2104 with SM3; keys longer than 64 bytes are hashed first).
pub fn hmac(key: &[u8], msg: &[u8]) -> [u8; DIGEST_LEN] {
    let mut m = HmacSm3::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// Checks an HMAC-SM3 tag in constant time. `tag` may be truncated to its leftmost bytes (RFC 2104
/// §5), but not below [`HMAC_MIN_TAG_LEN`] bytes; a shorter or longer tag is rejected.
pub fn hmac_verify(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    if tag.len() < HMAC_MIN_TAG_LEN || tag.len() > DIGEST_LEN {
        return false;
    }
    let mut m = HmacSm3::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(msg);
    m.verify_truncated_left(tag).is_ok()
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
