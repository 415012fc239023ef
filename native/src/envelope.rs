//! Bulk opening of GM/T 0010 envelopes stored as files (the opening's hot path).
//!
//! An envelope file is its DER header (recipients, algorithm, IV) followed by the SM4-CBC
//! ciphertext (GM/T 0010 §8; PKCS#7 padding, GB/T 17964). The bidder signed the SM3 of the whole
//! file, so each item re-hashes every byte (header included) in the same single pass that decrypts
//! the ciphertext range, and its plaintext is released (renamed into place, or returned) only when
//! that digest equals `expect_sm3`. Items run in parallel (rayon); a failing item never fails the batch.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::sm4::{AtomicOutput, Error, Mode, Output, IO_CHUNK};

/// One envelope to open.
pub struct EnvelopeItem<'a> {
    /// The unwrapped 16-byte SM4 content key.
    pub key: &'a [u8],
    /// The CBC IV from the envelope header.
    pub iv: &'a [u8],
    /// The envelope file (whole DER ContentInfo).
    pub path: PathBuf,
    /// Where the ciphertext starts, and its length (from the parsed header).
    pub offset: u64,
    pub length: u64,
    /// Stream the plaintext into this file (atomically), or return it when `None`.
    pub output: Option<PathBuf>,
    /// SM3 of the whole file as stored (what the bidder signed).
    pub expect_sm3: Option<&'a [u8]>,
}

struct Hashing<R> {
    inner: R,
    hasher: crate::sm3::Hasher,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn open_one(it: &EnvelopeItem<'_>) -> Result<Output, Error> {
    crate::sm4::Sm4::new(it.key)?;
    let f = File::open(&it.path)?;
    let size = f.metadata()?.len();
    if it.offset.checked_add(it.length) != Some(size)
        || it.length == 0
        || !it.length.is_multiple_of(16)
    {
        return Err(Error::InvalidLength);
    }
    let mut r = Hashing {
        inner: io::BufReader::with_capacity(IO_CHUNK, f),
        hasher: crate::sm3::Hasher::new(),
    };
    io::copy(&mut (&mut r).take(it.offset), &mut io::sink())?;
    let check = |h: &Hashing<io::BufReader<File>>| match it.expect_sm3 {
        Some(e) if e != h.hasher.clone().digest().as_slice() => Err(Error::DigestMismatch),
        _ => Ok(()),
    };
    match &it.output {
        Some(o) => {
            let mut out = AtomicOutput::create(o)?;
            let n = crate::sm4::decrypt_stream(
                Mode::Cbc,
                it.key,
                it.iv,
                b"",
                None,
                &mut r,
                out.writer(),
            )?;
            check(&r)?;
            out.commit()?;
            Ok(Output::Written(n))
        }
        None => {
            let mut ct = Vec::with_capacity(it.length as usize);
            r.read_to_end(&mut ct)?;
            check(&r)?;
            crate::sm4::cbc_decrypt(it.key, it.iv, &ct, true).map(Output::Data)
        }
    }
}

/// Opens many envelope files in parallel: one result per item, in order.
///
/// Each item waits on the disk (cold reads, the fsync of its output) as well as computing, so the batch
/// runs on its own pool of twice as many threads as cores: while one item waits, another computes.
pub fn open_batch(items: &[EnvelopeItem<'_>]) -> Vec<Result<Output, Error>> {
    use rayon::prelude::*;
    let threads = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| items.par_iter().map(open_one).collect()),
        Err(_) => items.par_iter().map(open_one).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("bk-env-{}-{}", std::process::id(), rand_u64()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rand_u64() -> u64 {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        u64::from_le_bytes(b)
    }

    #[test]
    fn opens_checks_digest_and_length() {
        let d = tmpdir();
        let (key, iv) = ([7u8; 16], [9u8; 16]);
        let header = b"HEADER-BYTES-OF-SOME-LENGTH".to_vec();
        let pt: Vec<u8> = (0..100_000u32).map(|i| (i * 31) as u8).collect();
        let ct = crate::sm4::cbc_encrypt(&key, &iv, &pt, true).unwrap();
        let mut file = header.clone();
        file.extend_from_slice(&ct);
        let p = d.join("env");
        std::fs::write(&p, &file).unwrap();
        let digest = crate::sm3::digest(&file);
        let mut wrong = digest;
        wrong[0] ^= 1;
        let item = |out: Option<PathBuf>, e: &'static [u8; 32]| EnvelopeItem {
            key: &key,
            iv: &iv,
            path: p.clone(),
            offset: header.len() as u64,
            length: ct.len() as u64,
            output: out,
            expect_sm3: Some(e),
        };
        let good: &'static [u8; 32] = Box::leak(Box::new(digest));
        let bad: &'static [u8; 32] = Box::leak(Box::new(wrong));
        let out = d.join("pt");
        let res = open_batch(&[
            item(None, good),
            item(Some(out.clone()), good),
            item(None, bad),
            item(Some(d.join("no")), bad),
        ]);
        match &res[0] {
            Ok(Output::Data(v)) => assert_eq!(v, &pt),
            _ => panic!("expected data"),
        }
        assert!(matches!(res[1], Ok(Output::Written(n)) if n == pt.len() as u64));
        assert_eq!(std::fs::read(&out).unwrap(), pt);
        assert!(matches!(res[2], Err(Error::DigestMismatch)));
        assert!(matches!(res[3], Err(Error::DigestMismatch)));
        assert!(!d.join("no").exists());
        let mut short = item(None, good);
        short.length -= 16;
        assert!(matches!(open_one(&short), Err(Error::InvalidLength)));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
