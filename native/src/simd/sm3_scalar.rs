//! Single-stream SM3 pieces shared by the SIMD backends (GB/T 32905-2016 §5.3): the 64 rounds
//! over any message schedule ([`rounds`], unrolled four at a time with rotating variable roles,
//! used by the AVX-512 schedule-ahead backend), padding, and the portable compression of
//! `sm3.rs` built plain and with BMI2 (`rorx` rotations).

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

#[inline(always)]
fn p0(x: u32) -> u32 {
    x ^ x.rotate_left(9) ^ x.rotate_left(17)
}

/// One round with the state held in eight variables whose roles rotate instead of moving:
/// after `r!(a, b, c, d, e, f, g, h)` the new `(A, B, C, D, E, F, G, H)` live in
/// `(d, a, b, c, h, e, f, g)`.
macro_rules! r {
    ($j:expr, $w:ident, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {{
        let a12 = $a.rotate_left(12);
        // (A<<<12 + T_j) is ready before E: add E last to keep it off the critical path.
        let ss1 = a12.wrapping_add($w.t($j)).wrapping_add($e).rotate_left(7);
        let ss2 = ss1 ^ a12;
        let (ff, gg) = if $j < 16 {
            ($a ^ $b ^ $c, $e ^ $f ^ $g)
        } else {
            (($a & $b) | ($c & ($a | $b)), (($f ^ $g) & $e) ^ $g)
        };
        let tt1 = ff
            .wrapping_add($d)
            .wrapping_add(ss2)
            .wrapping_add($w.wp($j));
        let tt2 = gg.wrapping_add($h).wrapping_add($w.w($j)).wrapping_add(ss1);
        $b = $b.rotate_left(9);
        $f = $f.rotate_left(19);
        $d = tt1;
        $h = p0(tt2);
    }};
}

/// Four rounds; the roles return to their starting variables.
macro_rules! r4 {
    ($j:expr, $w:ident, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {{
        r!($j, $w, $a, $b, $c, $d, $e, $f, $g, $h);
        r!($j + 1, $w, $d, $a, $b, $c, $h, $e, $f, $g);
        r!($j + 2, $w, $c, $d, $a, $b, $g, $h, $e, $f);
        r!($j + 3, $w, $b, $c, $d, $a, $f, $g, $h, $e);
    }};
}

/// Where the rounds read the expanded message: `W_j` and `W'_j = W_j ⊕ W_{j+4}`.
pub(crate) trait Schedule {
    fn w(&self, j: usize) -> u32;
    fn wp(&self, j: usize) -> u32;
    /// `T_j <<< j`, read from memory so the compiler adds it to `A <<< 12` before `E` arrives.
    #[inline(always)]
    fn t(&self, j: usize) -> u32 {
        TJ_ROT[j]
    }
}

/// The 64 rounds of one block and the final feed-forward XOR.
#[inline(always)]
pub(crate) fn rounds<S: Schedule>(v: &mut [u32; 8], w: &S) {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *v;
    r4!(0, w, a, b, c, d, e, f, g, h);
    r4!(4, w, a, b, c, d, e, f, g, h);
    r4!(8, w, a, b, c, d, e, f, g, h);
    r4!(12, w, a, b, c, d, e, f, g, h);
    r4!(16, w, a, b, c, d, e, f, g, h);
    r4!(20, w, a, b, c, d, e, f, g, h);
    r4!(24, w, a, b, c, d, e, f, g, h);
    r4!(28, w, a, b, c, d, e, f, g, h);
    r4!(32, w, a, b, c, d, e, f, g, h);
    r4!(36, w, a, b, c, d, e, f, g, h);
    r4!(40, w, a, b, c, d, e, f, g, h);
    r4!(44, w, a, b, c, d, e, f, g, h);
    r4!(48, w, a, b, c, d, e, f, g, h);
    r4!(52, w, a, b, c, d, e, f, g, h);
    r4!(56, w, a, b, c, d, e, f, g, h);
    r4!(60, w, a, b, c, d, e, f, g, h);
    for (s, x) in v.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s ^= x;
    }
}

/// Compresses whole 64-byte blocks into `v`: `sm3.rs`'s compression (the one portable
/// implementation; 405 MB/s against 307 MB/s for a schedule-first form of [`rounds`] that used to
/// live here, Zen 4, same run).
pub(crate) fn compress_portable(v: &mut [u32; 8], blocks: &[u8]) {
    crate::sm3::compress(v, blocks)
}

/// [`compress_portable`] compiled with BMI2 enabled (rotations become `rorx`).
///
/// # Safety
/// The CPU must support BMI2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
pub(crate) unsafe fn compress_bmi2(v: &mut [u32; 8], blocks: &[u8]) {
    crate::sm3::compress(v, blocks)
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
