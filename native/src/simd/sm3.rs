//! SM3 (GB/T 32905-2016): fastest single stream and multi-buffer hashing, with runtime dispatch.
//!
//! Single stream ([`Backend`]): hand-scheduled assembly (rounds on BMI1/BMI2 scalar ALUs, the
//! message schedule beside them in AVX-512VL registers, or in AVX registers on CPUs without
//! AVX-512), or our straight-line Rust compression
//! (built with BMI2 `rorx` when the CPU has it), or RustCrypto's `sm3` as the portable path.
//! Many messages ([`MbBackend`]): 16 messages per AVX-512 step or 8 per AVX2 step (one per
//! 32-bit lane), messages sorted by length so lanes stay busy; the serial path hashes them one by
//! one with the single-stream backend.
//!
//! `BIDKERNEL_FORCE_PORTABLE=1` selects the portable paths (read once per process).

use std::sync::OnceLock;

use super::sm3_scalar;

/// Digest length in bytes.
pub const DIGEST_LEN: usize = 32;

/// Single-stream SM3 implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Hand-scheduled assembly: rounds on BMI1/BMI2 scalar ALUs, message schedule in AVX-512VL
    /// registers beside them (`sm3_asm`).
    Asm,
    /// The same rounds with the message schedule in AVX registers (needs AVX2 and BMI1/BMI2;
    /// `sm3_avx.s`, generated from the AVX-512 template).
    AsmAvx,
    /// Our unrolled compression compiled with BMI2 rotations (x86-64 with BMI2).
    Bmi2,
    /// Our unrolled compression, plain Rust (any CPU).
    Scalar,
    /// RustCrypto `sm3`.
    Portable,
}

impl Backend {
    /// Stable name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Asm => "asm-bmi2-avx512vl",
            Backend::AsmAvx => "asm-bmi2-avx",
            Backend::Bmi2 => "x86-64-bmi2",
            Backend::Scalar => "scalar",
            Backend::Portable => "portable",
        }
    }

    /// Whether this CPU can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::Asm => super::sm3_asm::available(),
            #[cfg(target_arch = "x86_64")]
            Backend::AsmAvx => super::sm3_asm::available_avx(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Asm | Backend::AsmAvx => false,
            Backend::Bmi2 => cfg!(target_arch = "x86_64") && crate::cpu::has("bmi2"),
            Backend::Scalar | Backend::Portable => true,
        }
    }

    /// All backends usable here, fastest first.
    pub fn available() -> Vec<Backend> {
        [
            Backend::Asm,
            Backend::AsmAvx,
            Backend::Bmi2,
            Backend::Scalar,
            Backend::Portable,
        ]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
    }

    /// The backend [`digest`] uses (cached for the process).
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
}

/// Multi-buffer SM3 implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbBackend {
    /// 16 lanes of AVX-512F/BW.
    Avx512x16,
    /// 8 lanes of AVX2.
    Avx2x8,
    /// One message after another with the best single-stream backend.
    Serial,
}

impl MbBackend {
    /// Stable name for reports.
    pub fn name(self) -> &'static str {
        match self {
            MbBackend::Avx512x16 => "avx512-x16",
            MbBackend::Avx2x8 => "avx2-x8",
            MbBackend::Serial => "serial",
        }
    }

    /// Whether this CPU can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            MbBackend::Avx512x16 => super::sm3_mb::available(),
            #[cfg(target_arch = "x86_64")]
            MbBackend::Avx2x8 => super::sm3_mb_avx2::available(),
            #[cfg(not(target_arch = "x86_64"))]
            MbBackend::Avx512x16 | MbBackend::Avx2x8 => false,
            MbBackend::Serial => true,
        }
    }

    /// All backends usable here, fastest first.
    pub fn available() -> Vec<MbBackend> {
        [MbBackend::Avx512x16, MbBackend::Avx2x8, MbBackend::Serial]
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    }

    /// The backend [`digest_many`] uses (cached for the process).
    pub fn detect() -> MbBackend {
        static CHOSEN: OnceLock<MbBackend> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            if crate::cpu::portable_forced() {
                MbBackend::Serial
            } else {
                MbBackend::available()[0]
            }
        })
    }
}

/// Name of the single-stream backend [`digest`] uses.
pub fn active_backend() -> &'static str {
    Backend::detect().name()
}

/// Name of the multi-buffer backend [`digest_many`] uses.
pub fn active_mb_backend() -> &'static str {
    MbBackend::detect().name()
}

/// SM3 of `data` on the fastest single-stream path.
pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
    digest_with(Backend::detect(), data)
}

/// [`digest`] on an explicit backend (panics if the CPU lacks it).
pub fn digest_with(backend: Backend, data: &[u8]) -> [u8; DIGEST_LEN] {
    assert!(
        backend.is_available(),
        "SM3 backend {} not supported",
        backend.name()
    );
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::Asm => sm3_scalar::digest_with(data, |v, b| {
            // SAFETY: AVX-512F/VL, BMI1 and BMI2 presence asserted above.
            unsafe { super::sm3_asm::compress(v, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Backend::AsmAvx => sm3_scalar::digest_with(data, |v, b| {
            // SAFETY: AVX2, BMI1 and BMI2 presence asserted above.
            unsafe { super::sm3_asm::compress_avx(v, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Backend::Bmi2 => sm3_scalar::digest_with(data, |v, b| {
            // SAFETY: BMI2 presence asserted above.
            unsafe { sm3_scalar::compress_bmi2(v, b) }
        }),
        Backend::Scalar => sm3_scalar::digest_with(data, sm3_scalar::compress_portable),
        _ => {
            use sm3::Digest;
            sm3::Sm3::digest(data).into()
        }
    }
}

/// A compression function: `v` absorbs every 64-byte block of the slice.
pub(crate) type CompressFn = fn(&mut [u32; 8], &[u8]);

/// The compression function of a single-stream backend.
fn compressor(backend: Backend) -> CompressFn {
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::Asm => |v, b| {
            // SAFETY: only reachable with an available backend: `Hasher::with_backend` asserts
            // it, `detected_compressor` passes `Backend::detect()`.
            unsafe { super::sm3_asm::compress(v, b) }
        },
        #[cfg(target_arch = "x86_64")]
        Backend::AsmAvx => |v, b| {
            // SAFETY: as above.
            unsafe { super::sm3_asm::compress_avx(v, b) }
        },
        #[cfg(target_arch = "x86_64")]
        Backend::Bmi2 => |v, b| {
            // SAFETY: as above.
            unsafe { sm3_scalar::compress_bmi2(v, b) }
        },
        _ => sm3_scalar::compress_portable,
    }
}

/// The compression function of [`Backend::detect`]'s backend (cached for the process);
/// `crate::sm3` (the kernel's SM3, HMAC-SM3 and file hashing) compresses with it.
pub(crate) fn detected_compressor() -> CompressFn {
    static F: OnceLock<CompressFn> = OnceLock::new();
    *F.get_or_init(|| compressor(Backend::detect()))
}

/// Incremental SM3 (for streamed input, e.g. an upload hashed while it is written to disk).
///
/// Uses the single-stream backend chosen by [`Backend::detect`]; RustCrypto's portable backend
/// maps to our plain-Rust compression here (same results, tested against RustCrypto).
#[derive(Clone)]
pub struct Hasher {
    v: [u32; 8],
    buf: [u8; 64],
    buf_len: usize,
    total: u64,
    compress: CompressFn,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("sm3::Hasher(..)")
    }
}

impl Hasher {
    /// A fresh hasher on the dispatched backend.
    pub fn new() -> Self {
        Self::with_backend(Backend::detect())
    }

    /// A fresh hasher on an explicit backend (panics if the CPU lacks it).
    pub fn with_backend(backend: Backend) -> Self {
        assert!(
            backend.is_available(),
            "SM3 backend {} not supported",
            backend.name()
        );
        Hasher {
            v: sm3_scalar::IV,
            buf: [0; 64],
            buf_len: 0,
            total: 0,
            compress: compressor(backend),
        }
    }

    /// Absorbs `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (64 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 64 {
                return;
            }
            (self.compress)(&mut self.v, &self.buf);
            self.buf_len = 0;
        }
        let full = data.len() / 64 * 64;
        if full > 0 {
            (self.compress)(&mut self.v, &data[..full]);
        }
        let rest = &data[full..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// The digest of everything absorbed.
    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        let mut tail = [0u8; 128];
        let n = sm3_scalar::final_blocks(&self.buf[..self.buf_len], self.total, &mut tail);
        (self.compress)(&mut self.v, &tail[..n]);
        let mut out = [0u8; DIGEST_LEN];
        for (o, x) in out.chunks_exact_mut(4).zip(self.v) {
            o.copy_from_slice(&x.to_be_bytes());
        }
        out
    }
}

/// SM3 of each message, multi-buffer where the CPU allows. Output order follows input order.
pub fn digest_many(msgs: &[&[u8]]) -> Vec<[u8; DIGEST_LEN]> {
    digest_many_with(MbBackend::detect(), msgs)
}

/// [`digest_many`] on an explicit backend (panics if the CPU lacks it).
pub fn digest_many_with(backend: MbBackend, msgs: &[&[u8]]) -> Vec<[u8; DIGEST_LEN]> {
    assert!(
        backend.is_available(),
        "SM3 backend {} not supported",
        backend.name()
    );
    match backend {
        #[cfg(target_arch = "x86_64")]
        MbBackend::Avx512x16 => batched(msgs, 2 * super::sm3_mb::LANES, |batch, out| {
            // SAFETY: `is_available` asserted AVX-512F/BW above.
            unsafe {
                if batch.len() > super::sm3_mb::LANES {
                    super::sm3_mb::digest_sets::<2>(batch, out)
                } else {
                    super::sm3_mb::digest_sets::<1>(batch, out)
                }
            }
        }),
        #[cfg(target_arch = "x86_64")]
        MbBackend::Avx2x8 => batched(msgs, super::sm3_mb_avx2::LANES, |batch, out| {
            // SAFETY: `is_available` asserted AVX2 above.
            unsafe { super::sm3_mb_avx2::digest8(batch, out) }
        }),
        _ => {
            let b = Backend::detect();
            msgs.iter().map(|m| digest_with(b, m)).collect()
        }
    }
}

/// Runs a `lanes`-wide kernel over `msgs`, batching messages of similar length together so no
/// lane idles for long; results follow input order.
#[cfg(target_arch = "x86_64")]
fn batched(
    msgs: &[&[u8]],
    lanes: usize,
    kernel: impl Fn(&[&[u8]], &mut [[u8; DIGEST_LEN]]),
) -> Vec<[u8; DIGEST_LEN]> {
    let mut out = vec![[0u8; DIGEST_LEN]; msgs.len()];
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by_key(|&i| msgs[i].len());
    let mut batch: Vec<&[u8]> = Vec::with_capacity(lanes);
    let mut res = vec![[0u8; DIGEST_LEN]; lanes];
    for idx in order.chunks(lanes) {
        batch.clear();
        batch.extend(idx.iter().map(|&i| msgs[i]));
        kernel(&batch, &mut res[..idx.len()]);
        for (k, &i) in idx.iter().enumerate() {
            out[i] = res[k];
        }
    }
    out
}

/// Streaming multi-buffer SM3 (GB/T 32905 §5): many messages absorbed side by side, whole blocks
/// at a time, so a batch of large files can be hashed in one pass while they are read — the
/// opening re-hashes every envelope this way ([`crate::envelope`]). Lane `l`'s message is fed
/// with [`MultiHasher::update_blocks`] (multiples of 64 bytes) and ended with
/// [`MultiHasher::finalize`] (the remaining bytes and the padding, on the scalar path).
pub struct MultiHasher {
    backend: MbBackend,
    v: Vec<[u32; 8]>,
    total: Vec<u64>,
}

impl MultiHasher {
    /// `lanes` fresh messages on the detected multi-buffer backend.
    pub fn new(lanes: usize) -> Self {
        Self::with_backend(MbBackend::detect(), lanes)
    }

    /// [`MultiHasher::new`] on an explicit backend (panics if the CPU lacks it).
    pub fn with_backend(backend: MbBackend, lanes: usize) -> Self {
        assert!(
            backend.is_available(),
            "SM3 backend {} not supported",
            backend.name()
        );
        MultiHasher {
            backend,
            v: vec![sm3_scalar::IV; lanes],
            total: vec![0; lanes],
        }
    }

    /// How many lanes one kernel call of `backend` fills (more are run in several calls).
    pub fn width(backend: MbBackend) -> usize {
        match backend {
            MbBackend::Avx512x16 => 2 * 16,
            MbBackend::Avx2x8 => 8,
            MbBackend::Serial => 1,
        }
    }

    /// Absorbs `data[l]` into lane `l`; every slice must be a multiple of 64 bytes (an empty one
    /// leaves its lane unchanged). Panics on a wrong lane count or a partial block.
    pub fn update_blocks(&mut self, data: &[&[u8]]) {
        assert_eq!(data.len(), self.v.len(), "one slice per lane");
        assert!(
            data.iter().all(|d| d.len() % 64 == 0),
            "whole 64-byte blocks only"
        );
        for (t, d) in self.total.iter_mut().zip(data) {
            *t = t.wrapping_add(d.len() as u64);
        }
        let width = Self::width(self.backend);
        for (v, d) in self.v.chunks_mut(width).zip(data.chunks(width)) {
            match self.backend {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the backend's CPU features were asserted at construction.
                MbBackend::Avx512x16 => unsafe {
                    if d.len() > super::sm3_mb::LANES {
                        super::sm3_mb::update_sets::<2>(v, d)
                    } else {
                        super::sm3_mb::update_sets::<1>(v, d)
                    }
                },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above (AVX2).
                MbBackend::Avx2x8 => unsafe { super::sm3_mb_avx2::update8(v, d) },
                _ => {
                    for (vl, dl) in v.iter_mut().zip(d) {
                        crate::sm3::compress(vl, dl);
                    }
                }
            }
        }
    }

    /// The digest of lane `l`: its absorbed blocks followed by `rest` (any length) and the
    /// padding of §5.2. The lane itself is left unchanged.
    pub fn finalize(&self, l: usize, rest: &[u8]) -> [u8; DIGEST_LEN] {
        let mut v = self.v[l];
        let whole = rest.len() / 64 * 64;
        crate::sm3::compress(&mut v, &rest[..whole]);
        let mut tail = [0u8; 128];
        let total = self.total[l].wrapping_add(rest.len() as u64);
        let n = sm3_scalar::final_blocks(&rest[whole..], total, &mut tail);
        crate::sm3::compress(&mut v, &tail[..n]);
        let mut out = [0u8; DIGEST_LEN];
        for (o, x) in out.chunks_exact_mut(4).zip(v) {
            o.copy_from_slice(&x.to_be_bytes());
        }
        out
    }
}
