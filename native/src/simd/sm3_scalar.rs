//! Single-stream SM3 pieces shared by the SIMD backends (GB/T 32905-2016 §5.3): the round
//! constants, padding, and the portable compression of `sm3.rs` built plain and with BMI2
//! (`rorx` rotations). The AVX-512 schedule-ahead backend runs its rounds in assembly
//! (`sm3_rounds_asm`).

/// Initial value IV (GB/T 32905 §4.1), from `sm3.rs`.
pub(crate) use crate::sm3::IV;

/// `T_j <<< (j mod 32)` for every round (GB/T 32905 §4.2 and §5.3.3).
pub(crate) const TJ_ROT: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut j = 0;
    while j < 64 {
        let tj: u32 = if j < 16 { 0x79cc_4519 } else { 0x7a87_9d8a };
        t[j] = tj.rotate_left((j % 32) as u32);
        j += 1;
    }
    t
};

/// Compresses whole 64-byte blocks into `v`: `sm3.rs`'s compression (the one portable
/// implementation; 405 MB/s against 307 MB/s for a schedule-first form of the rounds that used to
/// live here, Zen 4, same run).
pub(crate) fn compress_portable(v: &mut [u32; 8], blocks: &[u8]) {
    crate::sm3::compress_plain(v, blocks)
}

/// [`compress_portable`] compiled with BMI2 enabled (rotations become `rorx`).
///
/// # Safety
/// The CPU must support BMI2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
pub(crate) unsafe fn compress_bmi2(v: &mut [u32; 8], blocks: &[u8]) {
    crate::sm3::compress_plain(v, blocks)
}

/// Pads the tail of a message of `total_len` bytes: returns one or two final blocks.
pub(crate) fn final_blocks(tail: &[u8], total_len: u64, out: &mut [u8; 128]) -> usize {
    debug_assert!(tail.len() < 64);
    out.fill(0);
    out[..tail.len()].copy_from_slice(tail);
    out[tail.len()] = 0x80;
    let n = if tail.len() < 56 { 64 } else { 128 };
    out[n - 8..n].copy_from_slice(&(total_len.wrapping_mul(8)).to_be_bytes());
    n
}

/// Full SM3 with a given compression function.
#[inline(always)]
pub(crate) fn digest_with(data: &[u8], compress: impl Fn(&mut [u32; 8], &[u8])) -> [u8; 32] {
    let mut v = IV;
    let full = data.len() / 64 * 64;
    compress(&mut v, &data[..full]);
    let mut tail = [0u8; 128];
    let n = final_blocks(&data[full..], data.len() as u64, &mut tail);
    compress(&mut v, &tail[..n]);
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(v) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}
