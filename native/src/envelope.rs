//! Bulk opening of GM/T 0010 envelopes stored as files (the opening's hot path).
//!
//! An envelope file is its DER header (recipients, algorithm, IV) followed by the SM4-CBC
//! ciphertext (GM/T 0010 §8; PKCS#7 padding, GB/T 17964). The bidder signed the SM3 of the whole
//! file, so each item re-hashes every byte (header included) in the same single pass that decrypts
//! the ciphertext range, and its plaintext is released (renamed into place, or returned) only when
//! that digest equals `expect_sm3`. Items run in parallel (rayon); a failing item never fails the batch.

use std::fs::File;
use std::io::{self, Read, Write};

use std::path::PathBuf;
use zeroize::{Zeroize, Zeroizing};

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

/// Bytes read per lane and step of a multi-buffer group (a multiple of the SM3 block).
const LANE_CHUNK: usize = 256 << 10;

/// Fewest lanes worth a multi-buffer group: below this the SIMD lanes idle and the scalar
/// single-stream SM3 of [`open_one`] is faster.
fn min_lanes(backend: MbBackend) -> usize {
    match backend {
        MbBackend::Avx512x16 => 8,
        MbBackend::Avx2x8 => 4,
        MbBackend::Serial => usize::MAX,
    }
}

use crate::simd::sm3::{MbBackend, MultiHasher};

/// Disk hints for the group path (Linux; no-ops elsewhere): the envelopes are read once, front to
/// back, and the plaintext written behind them must reach the disk before its fsync.
mod io_hints {
    use std::fs::File;

    /// Reads of `f` will be sequential: a larger readahead window (posix_fadvise(2)).
    pub fn sequential(f: &File) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor; the call only sets a hint.
            unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = f;
    }

    /// Asks the kernel to read `len` bytes of `f` from `offset` in the background (POSIX_FADV_WILLNEED),
    /// so the next step's read of this lane finds them in memory while the group computes.
    pub fn prefetch(f: &File, offset: u64, len: usize) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: as above.
            unsafe {
                libc::posix_fadvise(
                    f.as_raw_fd(),
                    offset as libc::off_t,
                    len as libc::off_t,
                    libc::POSIX_FADV_WILLNEED,
                )
            };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (f, offset, len);
    }

    /// Starts writeback of `f`'s dirty pages now (sync_file_range(2), SYNC_FILE_RANGE_WRITE: it
    /// does not wait), so the disk writes while the batch computes and the final fsync is short.
    pub fn start_writeback(f: &File) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: as above; offset 0 and length 0 mean the whole file.
            unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = f;
    }
}

/// One envelope of a multi-buffer group while it streams.
struct Lane<'a> {
    it: &'a EnvelopeItem<'a>,
    file: File,
    size: u64,
    pos: u64,
    dec: crate::sm4::CbcDecryptor,
    out: Option<AtomicOutput>,
    mem: Zeroizing<Vec<u8>>, // in-memory plaintext: wiped if the lane fails
    written: u64,
}

impl<'a> Lane<'a> {
    fn start(it: &'a EnvelopeItem<'a>) -> Result<Self, Error> {
        let dec = crate::sm4::CbcDecryptor::new(it.key, it.iv, true)?;
        let file = File::open(&it.path)?;
        let size = file.metadata()?.len();
        if it.offset.checked_add(it.length) != Some(size)
            || it.length == 0
            || !it.length.is_multiple_of(16)
        {
            return Err(Error::InvalidLength);
        }
        io_hints::sequential(&file);
        let out = match &it.output {
            Some(o) => Some(AtomicOutput::create(o)?),
            None => None,
        };
        let mem = Zeroizing::new(Vec::with_capacity(if out.is_none() {
            it.length as usize
        } else {
            0
        }));
        Ok(Lane {
            it,
            file,
            size,
            pos: 0,
            dec,
            out,
            mem,
            written: 0,
        })
    }

    /// Decrypts the ciphertext part of `chunk` (the file bytes at `pos..pos + chunk.len()`).
    fn decrypt(&mut self, chunk: &[u8], plain: &mut Vec<u8>) -> Result<(), Error> {
        let skip = self
            .it
            .offset
            .saturating_sub(self.pos)
            .min(chunk.len() as u64) as usize;
        self.pos += chunk.len() as u64;
        self.dec.update_into(&chunk[skip..], plain);
        self.emit(plain)
    }

    fn emit(&mut self, plain: &[u8]) -> Result<(), Error> {
        match &mut self.out {
            Some(o) => {
                let w = o.writer();
                let before = w.buffer().len();
                w.write_all(plain)?;
                if w.buffer().len() < before + plain.len() {
                    io_hints::start_writeback(w.get_ref()); // the buffer went to the file
                }
            }
            None => self.mem.extend_from_slice(plain),
        }
        self.written += plain.len() as u64;
        Ok(())
    }

    /// The digest checked, the padding removed, the output committed.
    fn finish(self, digest: &[u8; 32]) -> Result<Output, Error> {
        let Lane {
            it,
            dec,
            out,
            mut mem,
            mut written,
            ..
        } = self;
        if it.expect_sm3.is_some_and(|e| e != digest.as_slice()) {
            return Err(Error::DigestMismatch);
        }
        let last = Zeroizing::new(dec.finalize()?);
        written += last.len() as u64;
        match out {
            Some(mut o) => {
                o.writer().write_all(&last)?;
                o.commit()?;
                Ok(Output::Written(written))
            }
            None => {
                mem.extend_from_slice(&last);
                Ok(Output::Data(std::mem::take(&mut *mem)))
            }
        }
    }
}

/// Opens a group of envelopes side by side: each step reads [`LANE_CHUNK`] bytes of every
/// envelope still open, hashes them in one multi-buffer SM3 call and decrypts them; an envelope
/// is released (as [`open_one`]) only when its whole-file digest matches.
fn open_group(items: &[&EnvelopeItem<'_>]) -> Vec<Result<Output, Error>> {
    let mut lanes: Vec<Option<Lane<'_>>> = Vec::with_capacity(items.len());
    let mut results: Vec<Option<Result<Output, Error>>> = Vec::with_capacity(items.len());
    for it in items {
        match Lane::start(it) {
            Ok(l) => {
                lanes.push(Some(l));
                results.push(None);
            }
            Err(e) => {
                lanes.push(None);
                results.push(Some(Err(e)));
            }
        }
    }
    let n = items.len();
    let mut hasher = MultiHasher::new(n);
    let mut buf = vec![0u8; LANE_CHUNK * n];
    let mut lens = vec![0usize; n];
    let mut plain = Vec::with_capacity(LANE_CHUNK + 16);
    while lanes.iter().any(Option::is_some) {
        for (l, slot) in lanes.iter_mut().enumerate() {
            lens[l] = 0;
            let Some(lane) = slot else { continue };
            let want = (lane.size - lane.pos).min(LANE_CHUNK as u64) as usize;
            let dst = &mut buf[l * LANE_CHUNK..l * LANE_CHUNK + want];
            if let Err(e) = lane.file.read_exact(dst) {
                results[l] = Some(Err(e.into())); // the file shrank or failed under us
                *slot = None;
                continue;
            }
            lens[l] = want;
            if lane.pos + (want as u64) < lane.size {
                io_hints::prefetch(&lane.file, lane.pos + want as u64, LANE_CHUNK);
            }
        }
        let blocks: Vec<&[u8]> = (0..n)
            .map(|l| {
                let whole = if lanes[l]
                    .as_ref()
                    .is_some_and(|x| x.pos + lens[l] as u64 == x.size)
                {
                    lens[l] / 64 * 64 // the last chunk: its partial block is finished below
                } else {
                    lens[l]
                };
                &buf[l * LANE_CHUNK..l * LANE_CHUNK + whole]
            })
            .collect();
        hasher.update_blocks(&blocks);
        for (l, slot) in lanes.iter_mut().enumerate() {
            let Some(lane) = slot else { continue };
            let chunk = &buf[l * LANE_CHUNK..l * LANE_CHUNK + lens[l]];
            if let Err(e) = lane.decrypt(chunk, &mut plain) {
                results[l] = Some(Err(e));
                *slot = None;
                continue;
            }
            if lane.pos == lane.size {
                let digest = hasher.finalize(l, &chunk[lens[l] / 64 * 64..]);
                let lane = slot.take().expect("open lane");
                results[l] = Some(lane.finish(&digest));
            }
        }
    }
    plain.zeroize();
    results
        .into_iter()
        .map(|r| r.expect("every lane ends"))
        .collect()
}

/// Opens many envelope files in parallel: one result per item, in order.
///
/// Each item waits on the disk (cold reads, the fsync of its output) as well as computing, so the batch
/// runs on its own pool of twice as many threads as cores: while one item waits, another computes.
/// With a multi-buffer SM3 backend and enough items, items of similar size are grouped and each group
/// is hashed in SIMD lanes ([`open_group`]); otherwise each item streams alone ([`open_one`]).
pub fn open_batch(items: &[EnvelopeItem<'_>]) -> Vec<Result<Output, Error>> {
    use rayon::prelude::*;
    let threads = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
    let backend = MbBackend::detect();
    let run = || -> Vec<Result<Output, Error>> {
        // as many groups as fill every thread the same number of times, each of at most 16 lanes
        let rounds = items.len().div_ceil(threads * 16).max(1);
        let lanes = items.len().div_ceil(threads * rounds);
        if lanes < min_lanes(backend) {
            return items.par_iter().map(open_one).collect();
        }
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(items[i].length));
        let groups: Vec<Vec<usize>> = order.chunks(lanes).map(<[usize]>::to_vec).collect();
        let done: Vec<Vec<Result<Output, Error>>> = groups
            .par_iter()
            .map(|g| open_group(&g.iter().map(|&i| &items[i]).collect::<Vec<_>>()))
            .collect();
        let mut out: Vec<Option<Result<Output, Error>>> = (0..items.len()).map(|_| None).collect();
        for (g, res) in groups.iter().zip(done) {
            for (&i, r) in g.iter().zip(res) {
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .map(|r| r.expect("every item in a group"))
            .collect()
    };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
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

    /// The multi-buffer group path gives, item by item, what the single-stream path gives: sizes
    /// across chunk boundaries, memory and file outputs, a wrong digest, a wrong key (bad padding),
    /// a header length that does not match the file (the SM3 lanes: the detected backend).
    #[test]
    fn group_path_matches_single_stream() {
        let d = tmpdir();
        let iv = [3u8; 16];
        let header = vec![0x30u8; 77]; // not a multiple of 64: the ciphertext starts mid-block
        let sizes = [
            0usize,
            1,
            15,
            16,
            4000,
            262_144 - 77,
            262_144,
            300_001,
            600_000,
            9,
            70_000,
        ];
        let mut files = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let key = [i as u8 + 1; 16];
            let pt: Vec<u8> = (0..n).map(|j| (j * 7 + i) as u8).collect();
            let ct = crate::sm4::cbc_encrypt(&key, &iv, &pt, true).unwrap();
            let mut file = header.clone();
            file.extend_from_slice(&ct);
            let p = d.join(format!("env{i}"));
            std::fs::write(&p, &file).unwrap();
            files.push((key, p, ct.len() as u64, crate::sm3::digest(&file), pt));
        }
        let mut wrong_digest = files[4].3;
        wrong_digest[31] ^= 0x80;
        let wrong_key = [0xEEu8; 16];
        let mut items = Vec::new();
        for (i, (key, p, len, dg, _)) in files.iter().enumerate() {
            let output = (i % 2 == 1).then(|| d.join(format!("pt{i}")));
            let (key, expect): (&[u8], &[u8]) = match i {
                4 => (key, &wrong_digest),
                5 => (&wrong_key, dg),
                _ => (key, dg),
            };
            let length = if i == 7 { len - 16 } else { *len };
            items.push(EnvelopeItem {
                key,
                iv: &iv,
                path: p.clone(),
                offset: header.len() as u64,
                length,
                output,
                expect_sm3: Some(expect),
            });
        }
        let refs: Vec<&EnvelopeItem<'_>> = items.iter().collect();
        let single: Vec<Result<Output, Error>> = items.iter().map(open_one).collect();
        let outputs: Vec<Option<Vec<u8>>> = items
            .iter()
            .map(|it| it.output.as_ref().and_then(|o| std::fs::read(o).ok()))
            .collect();
        for o in items.iter().filter_map(|it| it.output.as_ref()) {
            let _ = std::fs::remove_file(o);
        }
        let grouped = open_group(&refs);
        for (i, (a, b)) in single.iter().zip(&grouped).enumerate() {
            match (a, b) {
                (Ok(Output::Data(x)), Ok(Output::Data(y))) => {
                    assert_eq!(x, y, "item {i}");
                    assert_eq!(x, &files[i].4, "item {i}");
                }
                (Ok(Output::Written(x)), Ok(Output::Written(y))) => {
                    assert_eq!(x, y, "item {i}");
                    let got = std::fs::read(items[i].output.as_ref().unwrap()).unwrap();
                    assert_eq!(Some(&got), outputs[i].as_ref(), "item {i}");
                    assert_eq!(got, files[i].4, "item {i}");
                }
                (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string(), "item {i}"),
                _ => panic!("item {i}: single {:?} / group {:?}", a.is_ok(), b.is_ok()),
            }
        }
        assert!(matches!(grouped[4], Err(Error::DigestMismatch)));
        assert!(matches!(grouped[5], Err(Error::DecryptionFailed)));
        assert!(matches!(grouped[7], Err(Error::InvalidLength)));
        assert!(grouped.iter().filter(|r| r.is_ok()).count() == sizes.len() - 3);
        // failed items left no output file, not even a temporary one
        let left: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("env"))
            .collect();
        let want: Vec<String> = (0..sizes.len())
            .filter(|i| i % 2 == 1 && grouped[*i].is_ok())
            .map(|i| format!("pt{i}"))
            .collect();
        let mut left_sorted = left.clone();
        left_sorted.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(left_sorted, want_sorted);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
