//! Constant-time scalar multiplication on sm2p256v1 over [`super::field::Fe`].
//!
//! Curve y² = x³ - 3x + b (a = -3), prime order n, cofactor 1. Points are Jacobian (X, Y, Z) for
//! (X/Z², Y/Z³). Formulas (explicit-formulas database, "Jacobian coordinates with a = -3"):
//! `dbl-2001-b` (computed in 4M + 4S, see [`Jacobian::double`]), `add-1998-cmo-2` (12M + 4S),
//! `madd-2004-hmv` (8M + 3S); the table of [k]P by co-Z additions (5M + 2S each,
//! [`co_z_add_update`]). Every addition is incomplete in the same way (H = 0, or X1 = X2 for
//! co-Z, exactly when P = ±Q), so the argument below holds for each.
//!
//! **Scalar recoding.** For k in [1, n-1] let k' = k if k is odd, else n - k (odd, as n is odd);
//! the result is negated at the end when k was even (a masked select, no branch). An odd k' < 2^256
//! is written with 51 signed odd digits and a top digit 1:
//! k' = 2^255 + Σ_{i<51} d_i·32^i, d_i = (((k' >> 5i) mod 64) | 1) - 32 ∈ {±1, ±3, …, ±31}.
//! (The partial value m_j = Σ_{i≥j} d_i·32^(i-j) equals (k' >> 5j) | 1, so m_j is odd, ≥ 1 and
//! m_{j+1} = 2⌊m_j / 64⌋ + 1; at the top m_51 = (k' >> 255) | 1 = 1.) No digit is zero, so every
//! window costs the same: 5 doublings and one addition of ±T[(|d|-1)/2] from a table of the odd
//! multiples 1P … 31P, selected by scanning the whole table with masks.
//!
//! **Exceptional cases of the incomplete formulas.** Before adding d_j the accumulator is
//! [32·m_{j+1}]P = [m_j - d_j]P. Infinity would need 32·m_{j+1} ≡ 0 (mod n), impossible for
//! 1 ≤ m_{j+1} < n. The addition degenerates iff m_j - d_j ≡ ±d_j (mod n): "-" would need
//! m_j ≡ 0, impossible for odd 1 ≤ m_j < n; "+" needs m_j - 2d_j ≡ 0 with m_j - 2d_j odd and in
//! (-62, n + 62): only m_j = n + 2d_j, which for j ≥ 1 (m_j < n/32 + 1) cannot happen, and for
//! j = 0 (m_0 = k') happens exactly for k' = n - 6 (n mod 64 = 35 gives d_0 = -3). So the last
//! addition also computes the doubling of the accumulator and selects it, with a mask, when
//! H = 0; every other addition is proven exception-free. The fixed-base comb adds the same
//! digits scaled by 32^j, which gives the same conditions (2 is invertible mod n), so the same
//! argument and the same last-step select apply. The tests run k = 6 and n - 6 among the edge
//! scalars, which take the doubling branch.
//!
//! **Fixed base.** `[k]G` writes k' with 37 signed odd 7-bit digits d_i ∈ {±1, …, ±127}
//! (d_i = (((k' >> 7i) mod 256) | 1) - 128, top digit 1 at 2^259) and uses a table of affine
//! (2i+1)·128^j·G for 37 windows j and 64 odd multiples (2,368 points, 148 KiB, built once with
//! these formulas and one batch inversion): 37 mixed additions, no doublings, each addend picked
//! by scanning its whole window with masks (AVX2 when present). The same argument as above, with
//! 128 for 32: before adding d_j the accumulator is [128^j·(m_j - d_j)]G, never infinity; the
//! addition degenerates iff m_j ≡ 2d_j (mod n) (m_j ≡ 0 is impossible). For j ≥ 1,
//! m_j < 2^250 rules that out; for j = 0 it needs k' = n + 2d_0 with d_0 < 0, and as
//! n mod 256 = 35 and d_0 = (k' mod 256) - 128 this forces d_0 ≡ 93 (mod 256), outside
//! [-127, -1]. So the comb has no exceptional case at all and needs no select (tests run the
//! scalars around 0 and n among the edge cases).

use super::field::Fe;
use ::sm2::elliptic_curve::ff::PrimeField;
use ::sm2::elliptic_curve::point::AffineCoordinates;
use ::sm2::elliptic_curve::Group;
use ::sm2::{AffinePoint, Scalar};
use std::sync::OnceLock;
use subtle::{Choice, ConditionallySelectable};
use zeroize::Zeroize;

/// n, little-endian limbs.
const N: [u64; 4] = [
    0x53bb_f409_39d5_4123,
    0x7203_df6b_21c6_052b,
    0xffff_ffff_ffff_ffff,
    0xffff_fffe_ffff_ffff,
];

/// Signed digits below the top one.
const DIGITS: usize = 51;
/// Odd multiples per table: 1, 3, ..., 31.
pub(crate) const TABLE: usize = 16;

/// An affine point (never infinity here). `repr(C)`: the table scan reads it as [u64; 8].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Affine {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
}

impl ConditionallySelectable for Affine {
    fn conditional_select(a: &Self, b: &Self, c: Choice) -> Self {
        Affine {
            x: Fe::conditional_select(&a.x, &b.x, c),
            y: Fe::conditional_select(&a.y, &b.y, c),
        }
    }
}

impl Affine {
    /// From the crate's (validated, on-curve) affine point.
    pub(crate) fn from_crate(p: &AffinePoint) -> Self {
        let x: [u8; 32] = p.x().into();
        let y: [u8; 32] = p.y().into();
        Affine {
            x: Fe::from_bytes(&x).expect("canonical coordinate"),
            y: Fe::from_bytes(&y).expect("canonical coordinate"),
        }
    }
}

/// Jacobian point. `repr(C)`: the table scan reads it as [u64; 12].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Jacobian {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
    pub(crate) z: Fe,
}

impl ConditionallySelectable for Jacobian {
    fn conditional_select(a: &Self, b: &Self, c: Choice) -> Self {
        Jacobian {
            x: Fe::conditional_select(&a.x, &b.x, c),
            y: Fe::conditional_select(&a.y, &b.y, c),
            z: Fe::conditional_select(&a.z, &b.z, c),
        }
    }
}

impl Zeroize for Jacobian {
    fn zeroize(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
        self.z.zeroize();
    }
}

impl Jacobian {
    fn from_affine(a: &Affine) -> Self {
        Jacobian {
            x: a.x,
            y: a.y,
            z: Fe::ONE,
        }
    }

    /// dbl-2001-b (a = -3): delta = Z², gamma = Y², beta = X·gamma, alpha = 3(X-delta)(X+delta),
    /// X3 = alpha² - 8beta, Z3 = 2YZ, Y3 = alpha(4beta - X3) - 8gamma², computed as OpenSSL's
    /// `ecp_nistz256_point_double` does, in 4M + 4S instead of 3M + 5S: s = (2Y)² = 4gamma gives
    /// 4beta = s·X and 8gamma² = s²/2 with no chain of doublings on the Y path, and Z3 is one
    /// product. On the Intel Xeon of 2026-12-07 this took a doubling from 131 to 108-120 ns
    /// (`timing_min`); the orders of the statements tried differed by less than that machine's
    /// noise, and this one (both critical paths first) was among the fastest.
    #[inline(always)]
    fn double(&self) -> Self {
        let s = self.y.double().square(); // 4γ
        let delta = self.z.square();
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let beta4 = s.mul(&self.x);
        let alpha = t.double().add(&t);
        let z3 = self.y.mul(&self.z).double();
        let x3 = alpha.square().sub(&beta4.double());
        let g8 = s.square().half();
        let y3 = alpha.mul(&beta4.sub(&x3)).sub(&g8);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + q for self ≠ ±q, neither infinity (add-1998-cmo-2 of the explicit-formulas database,
    /// 12M + 4S, the shape of OpenSSL's `ecp_nistz256_point_add`): U1 = X1·Z2², U2 = X2·Z1²,
    /// S1 = Y1·Z2³, S2 = Y2·Z1³, H = U2 - U1, R = S2 - S1, X3 = R² - H³ - 2·U1·H²,
    /// Y3 = R·(U1·H² - X3) - S1·H³, Z3 = Z1·Z2·H. One product more than add-2007-bl but six field
    /// additions fewer, and on Intel cores those additions compete with the products for ports 0
    /// and 6. Also returns H = 0 as a mask (then self = ±q and the output is meaningless).
    #[inline(always)]
    fn add(&self, q: &Self) -> (Self, Choice) {
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = q.x.mul(&z1z1);
        let s1 = self.y.mul(&q.z.mul(&z2z2));
        let s2 = q.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        let hh = h.square();
        let hhh = hh.mul(&h);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = self.z.mul(&q.z).mul(&h);
        (
            Jacobian {
                x: x3,
                y: y3,
                z: z3,
            },
            h.is_zero(),
        )
    }

    /// self + q with q affine (madd-2004-hmv, 8M + 3S, the shape of OpenSSL's
    /// `ecp_nistz256_point_add_affine`): [`Jacobian::add`] with Z2 = 1; same contract.
    #[inline(always)]
    fn add_affine(&self, q: &Affine) -> (Self, Choice) {
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        let hh = h.square();
        let hhh = hh.mul(&h);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&hhh));
        let z3 = self.z.mul(&h);
        (
            Jacobian {
                x: x3,
                y: y3,
                z: z3,
            },
            h.is_zero(),
        )
    }

    /// Affine coordinates (one constant-time inversion); Z must be nonzero.
    pub(crate) fn to_affine(self) -> Affine {
        let zi = self.z.invert();
        self.to_affine_with(&zi)
    }

    fn to_affine_with(self, zi: &Fe) -> Affine {
        let zi2 = zi.square();
        Affine {
            x: self.x.mul(&zi2),
            y: self.y.mul(&zi2).mul(zi),
        }
    }
}

/// Scalar bytes (big-endian, value in [1, n-1]) to the odd k' and the "negate at the end" mask.
fn odd_scalar(k: &[u8; 32]) -> ([u64; 4], Choice) {
    let mut l = [0u64; 4];
    for (i, chunk) in k.rchunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        l[i] = u64::from_be_bytes(w);
    }
    let even = Choice::from(((l[0] & 1) ^ 1) as u8);
    let mut neg = [0u64; 4];
    let mut borrow = 0u64;
    for i in 0..4 {
        let t = (N[i] as u128).wrapping_sub((l[i] as u128) + (borrow as u128));
        neg[i] = t as u64;
        borrow = ((t >> 64) as u64) & 1;
    }
    let mut out = [0u64; 4];
    for i in 0..4 {
        out[i] = u64::conditional_select(&l[i], &neg[i], even);
    }
    l.zeroize();
    neg.zeroize();
    (out, even)
}

/// The D signed digits in base 2^W of an odd k' (see the module documentation), least
/// significant first: d_i = (((k' >> Wi) mod 2^(W+1)) | 1) - 2^W.
fn recode_w<const W: usize, const D: usize>(k: &[u64; 4]) -> [i8; D] {
    let mut d = [0i8; D];
    for (i, di) in d.iter_mut().enumerate() {
        let pos = W * i;
        let (limb, off) = (pos / 64, pos % 64);
        let mut v = k[limb] >> off;
        if off > 63 - W && limb < 3 {
            v |= k[limb + 1] << (64 - off);
        }
        *di = ((((v & ((2 << W) - 1)) | 1) as i32) - (1 << W)) as i8;
    }
    d
}

/// The 51 signed 5-bit digits of [`mul_var`].
fn recode(k: &[u64; 4]) -> [i8; DIGITS] {
    recode_w::<5, DIGITS>(k)
}

/// |d| and sign of an odd digit, branch-free: (index (|d|-1)/2, negative mask).
#[inline(always)]
fn digit_parts(d: i8) -> (u32, Choice) {
    let d = d as i32;
    let neg = ((d as u32) >> 31) & 1;
    let abs = ((d ^ (neg as i32).wrapping_neg()) + neg as i32) as u32;
    (abs >> 1, Choice::from(neg as u8))
}

/// All-ones when i = idx, else 0, without a branch; the mask goes through `black_box` so that the
/// compiler cannot turn the masked scan below back into a branch or an indexed load.
#[inline(always)]
fn eq_mask(i: u32, idx: u32) -> u64 {
    let x = (i ^ idx) as u64;
    // x - 1 borrows into bit 63 only when x = 0.
    core::hint::black_box(0u64.wrapping_sub(x.wrapping_sub(1) >> 63))
}

/// OR of every entry's limbs AND its mask: one pass over the whole table, the same loads and
/// operations whatever the index (plain u64 lanes, which the compiler vectorizes).
#[inline(always)]
fn scan<const L: usize>(table: &[[u64; L]], idx: u32) -> [u64; L] {
    let mut acc = [0u64; L];
    for (i, e) in table.iter().enumerate() {
        let m = eq_mask(i as u32, idx);
        for k in 0..L {
            acc[k] |= e[k] & m;
        }
    }
    acc
}

fn lookup_jacobian(table: &[Jacobian; TABLE], d: i8) -> Jacobian {
    let (idx, neg) = digit_parts(d);
    // SAFETY: Jacobian is three `Fe` ([u64; 4] each), repr(C), so it has the layout of [u64; 12].
    let flat: &[[u64; 12]; TABLE] = unsafe { &*(table as *const [Jacobian; TABLE]).cast() };
    let v = scan_fast(flat, idx);
    let mut r = Jacobian {
        x: Fe([v[0], v[1], v[2], v[3]]),
        y: Fe([v[4], v[5], v[6], v[7]]),
        z: Fe([v[8], v[9], v[10], v[11]]),
    };
    r.y = Fe::conditional_select(&r.y, &r.y.neg(), neg);
    r
}

/// [`scan`] with 256-bit vectors (L/4 per entry, L a multiple of 4), masks made by a vector
/// compare of the running index with the wanted one: no branch, every entry loaded.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_avx2<const L: usize>(table: &[[u64; L]], idx: u32) -> [u64; L] {
    const {
        assert!(
            L.is_multiple_of(4) && L <= 12,
            "entries of 4, 8 or 12 limbs"
        )
    };
    use core::arch::x86_64::*;
    let want = _mm256_set1_epi64x(idx as i64);
    let one = _mm256_set1_epi64x(1);
    let mut cur = _mm256_setzero_si256();
    let mut acc = [_mm256_setzero_si256(); 3];
    for e in table {
        let m = _mm256_cmpeq_epi64(cur, want);
        let p = e.as_ptr() as *const __m256i;
        for (k, a) in acc.iter_mut().enumerate().take(L / 4) {
            // SAFETY: `e` holds L/4 readable 32-byte lanes; unaligned loads.
            let v = unsafe { _mm256_loadu_si256(p.add(k)) };
            *a = _mm256_or_si256(*a, _mm256_and_si256(m, v));
        }
        cur = _mm256_add_epi64(cur, one);
    }
    let mut out = [0u64; L];
    let q = out.as_mut_ptr() as *mut __m256i;
    for (k, a) in acc.iter().enumerate().take(L / 4) {
        // SAFETY: `out` holds L/4 writable 32-byte lanes.
        unsafe { _mm256_storeu_si256(q.add(k), *a) };
    }
    out
}

/// [`scan_avx2`] when the CPU has AVX2, else the portable [`scan`].
#[inline(always)]
fn scan_fast<const L: usize>(table: &[[u64; L]], idx: u32) -> [u64; L] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked just above).
        return unsafe { scan_avx2(table, idx) };
    }
    scan(table, idx)
}

/// Signed-digit lookup in a table of affine odd multiples (any size), constant time.
fn lookup_affine(table: &[Affine], d: i8) -> Affine {
    let (idx, neg) = digit_parts(d);
    // SAFETY: Affine is two `Fe` ([u64; 4] each), repr(C), so it has the layout of [u64; 8].
    let flat: &[[u64; 8]] =
        unsafe { core::slice::from_raw_parts(table.as_ptr().cast(), table.len()) };
    let v = scan_fast(flat, idx);
    let mut r = Affine {
        x: Fe([v[0], v[1], v[2], v[3]]),
        y: Fe([v[4], v[5], v[6], v[7]]),
    };
    r.y = Fe::conditional_select(&r.y, &r.y.neg(), neg);
    r
}

/// Co-Z addition with update (Meloni, "New point addition formulae for ECC applications",
/// WAIFI 2007; `ZADDU` in Goundar–Rivain–Verneuil, "Co-Z addition formulæ and binary ladders on
/// elliptic curves", CHES 2010): for P and Q sharing one Z, returns P + Q and P rescaled to the
/// sum's Z, in 5M + 2S. C = (X1-X2)², W1 = X1·C, W2 = X2·C, A1 = Y1·(W1-W2),
/// X3 = (Y1-Y2)² - W1 - W2, Y3 = (Y1-Y2)(W1-X3) - A1, Z3 = Z·(X1-X2); P ~ (W1, A1, Z3).
/// Requires P ≠ ±Q (X1 ≠ X2).
#[inline(always)]
fn co_z_add_update(p: &Jacobian, q: &Jacobian) -> (Jacobian, Jacobian) {
    let xd = p.x.sub(&q.x);
    let c = xd.square();
    let w1 = p.x.mul(&c);
    let w2 = q.x.mul(&c);
    let yd = p.y.sub(&q.y);
    let a1 = p.y.mul(&w1.sub(&w2));
    let x3 = yd.square().sub(&w1.add(&w2));
    let y3 = yd.mul(&w1.sub(&x3)).sub(&a1);
    let z3 = p.z.mul(&xd);
    (
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        },
        Jacobian {
            x: w1,
            y: a1,
            z: z3,
        },
    )
}

/// table[i] = (2i+1)·P for an affine P: D = 2P, P brought to D's Z, then each entry is the
/// previous one plus D by [`co_z_add_update`], which also leaves D at the new entry's Z for the
/// next step (15 co-Z additions, 5M + 2S each, instead of 15 general additions of 12M + 4S).
/// (2i-1)P ≠ ±2P for i < 16 (n is prime and far larger), so no step is exceptional.
pub(crate) fn odd_multiples_co_z(p: &Affine, table: &mut [Jacobian; TABLE]) {
    let mut d = Jacobian::from_affine(p).double();
    let z2 = d.z.square();
    table[0] = Jacobian {
        x: p.x.mul(&z2),
        y: p.y.mul(&z2.mul(&d.z)),
        z: d.z,
    };
    for i in 1..TABLE {
        let (sum, d_at_sum) = co_z_add_update(&d, &table[i - 1]);
        table[i] = sum;
        d = d_at_sum;
    }
}

/// [k]P in constant time for k in [1, n-1] (big-endian bytes) and P a curve point ≠ infinity.
pub(crate) fn mul_var(p: &Affine, k: &[u8; 32]) -> Jacobian {
    let (mut kk, even) = odd_scalar(k);
    let mut digits = recode(&kk);
    let p1 = Jacobian::from_affine(p);
    let mut table = [p1; TABLE];
    odd_multiples_co_z(p, &mut table);
    let mut q = p1; // top digit 1
    for j in (0..DIGITS).rev() {
        for _ in 0..5 {
            q = q.double();
        }
        let e = lookup_jacobian(&table, digits[j]);
        let (sum, h_zero) = q.add(&e);
        q = if j == 0 {
            // The only possibly exceptional addition (k' = n - 6): accumulator = addend.
            Jacobian::conditional_select(&sum, &q.double(), h_zero)
        } else {
            sum
        };
    }
    q.y = Fe::conditional_select(&q.y, &q.y.neg(), even);
    kk.zeroize();
    digits.zeroize();
    q
}

/// Window width of the fixed-base comb.
const BASE_W: usize = 7;
/// Windows of the comb: 7·37 = 259 ≥ 256 bits.
const BASE_DIGITS: usize = 37;
/// Odd multiples per window: 1, 3, ..., 127.
const BASE_TABLE: usize = 64;

struct BaseTable {
    /// 2^259·G (the top digit is always 1).
    top: Affine,
    /// windows[j][i] = (2i+1)·128^j·G.
    windows: Vec<[Affine; BASE_TABLE]>,
}

fn generator() -> Affine {
    Affine::from_crate(&AffinePoint::GENERATOR)
}

fn build_base_table() -> BaseTable {
    let mut jac: Vec<Jacobian> = Vec::with_capacity(BASE_DIGITS * BASE_TABLE + 1);
    let mut b = Jacobian::from_affine(&generator());
    for _ in 0..BASE_DIGITS {
        let b2 = b.double();
        let mut e = b;
        jac.push(e);
        for _ in 1..BASE_TABLE {
            // (2i-1)·b + 2b: never ±equal (2i - 1 ≠ ±2 mod n).
            e = e.add(&b2).0;
            jac.push(e);
        }
        for _ in 0..BASE_W {
            b = b.double();
        }
    }
    // 128^37 G = 2^259 G; then one inversion for all 2,369 points.
    jac.push(b);
    let aff: Vec<Affine> = jac
        .iter()
        .zip(batch_invert_z(&jac))
        .map(|(p, zi)| p.to_affine_with(&zi))
        .collect();
    let top = aff[BASE_DIGITS * BASE_TABLE];
    let windows = aff[..BASE_DIGITS * BASE_TABLE]
        .chunks_exact(BASE_TABLE)
        .map(|c| {
            let mut w = [Affine::default(); BASE_TABLE];
            w.copy_from_slice(c);
            w
        })
        .collect();
    BaseTable { top, windows }
}

fn base_table() -> &'static BaseTable {
    static TABLE_G: OnceLock<BaseTable> = OnceLock::new();
    TABLE_G.get_or_init(build_base_table)
}

/// [k]G in constant time for k in [1, n-1] (big-endian bytes): 37 mixed additions of signed
/// 7-bit odd digits, each entry chosen by a full masked scan of its 64-entry window. No
/// exceptional addition can occur (module documentation, "Fixed base"), so no select is needed.
pub(crate) fn mul_base(k: &[u8; 32]) -> Jacobian {
    let t = base_table();
    let (mut kk, even) = odd_scalar(k);
    let mut digits = recode_w::<BASE_W, BASE_DIGITS>(&kk);
    let mut q = Jacobian::from_affine(&t.top);
    for j in (0..BASE_DIGITS).rev() {
        let e = lookup_affine(&t.windows[j], digits[j]);
        q = q.add_affine(&e).0;
    }
    q.y = Fe::conditional_select(&q.y, &q.y.neg(), even);
    kk.zeroize();
    digits.zeroize();
    q
}

/// Affine point as 32-byte big-endian coordinates, wiped on drop (the shared point is secret).
pub(crate) struct PointBytes {
    pub(crate) x: [u8; 32],
    pub(crate) y: [u8; 32],
}

impl Drop for PointBytes {
    fn drop(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
    }
}

impl PointBytes {
    fn from_affine(a: &Affine) -> Self {
        PointBytes {
            x: a.x.to_bytes(),
            y: a.y.to_bytes(),
        }
    }
}

/// Which scalar multiplication serves sign, encrypt and decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// This module (SM2-specific field, constant-time windows, fixed-base table).
    Fast,
    /// The RustCrypto `sm2` crate's (kept for differential tests and `BIDKERNEL_FORCE_PORTABLE`).
    Crate,
}

impl Backend {
    /// `Crate` when the portable path is forced by the environment, else `Fast`.
    pub(crate) fn current() -> Self {
        if crate::cpu::portable_forced() {
            Backend::Crate
        } else {
            Backend::Fast
        }
    }
}

fn crate_bytes(p: &AffinePoint) -> PointBytes {
    PointBytes {
        x: p.x().into(),
        y: p.y().into(),
    }
}

/// [k]G (affine), k ≠ 0. The one entry point for fixed-base multiplication.
pub(crate) fn base_mul(k: &Scalar, backend: Backend) -> PointBytes {
    match backend {
        Backend::Fast => {
            let mut kb: [u8; 32] = k.to_repr().into();
            let mut q = mul_base(&kb);
            kb.zeroize();
            let out = PointBytes::from_affine(&q.to_affine());
            q.zeroize();
            out
        }
        Backend::Crate => crate_bytes(&::sm2::ProjectivePoint::mul_by_generator(k).to_affine()),
    }
}

/// x-coordinates (big-endian) of [k_i]G for nonzero scalars on the fast backend: the signing
/// nonce pool's batch. The comb of [`mul_base`] runs over the whole batch in lockstep, window by
/// window, with *affine* accumulators: the N additions of one window share one inversion
/// (Montgomery's trick: 3M each plus 1/N of an inversion), and the affine chord addition
/// λ = (y2 - y1)/(x2 - x1), x3 = λ² - x1 - x2, y3 = λ(x1 - x3) - y1 (GB/T 32918.1, the group
/// law over F_p) costs 2M + 1S more; with N = [`super::keys::NoncePool::BATCH`] that is about
/// 5M + 1S per step against 8M + 3S for the mixed Jacobian one, and the results need no final
/// normalization.
/// Each window's 4 KiB of table also stays in L1 while the batch passes through it.
///
/// The same points are added in the same order as in [`mul_base`], so its proof holds: no
/// accumulator is ever infinity or ±its addend, hence no x2 - x1 is zero and no inverse is
/// lost. Only x is returned, and x([n-k]G) = x([k]G), so the final negation is not needed.
/// Every step is the same field operations on every input (no branch, no secret index).
pub(crate) fn base_mul_x_batch(ks: &[Scalar]) -> Vec<[u8; 32]> {
    let t = base_table();
    let n = ks.len();
    let mut digits: Vec<[i8; BASE_DIGITS]> = ks
        .iter()
        .map(|k| {
            let mut kb: [u8; 32] = k.to_repr().into();
            let (mut kk, _even) = odd_scalar(&kb);
            let d = recode_w::<BASE_W, BASE_DIGITS>(&kk);
            kb.zeroize();
            kk.zeroize();
            d
        })
        .collect();
    let mut acc = vec![t.top; n];
    let mut addend = vec![Affine::default(); n];
    let mut prefix = vec![Fe::ZERO; n];
    for j in (0..BASE_DIGITS).rev() {
        let window = &t.windows[j];
        // Forward: pick each addend, keep the prefix products of the x2 - x1.
        let mut p = Fe::ONE;
        for i in 0..n {
            addend[i] = lookup_affine(window, digits[i][j]);
            prefix[i] = p;
            p = p.mul(&addend[i].x.sub(&acc[i].x));
        }
        // Back: peel each 1/(x2 - x1) off the one inverse and add.
        let mut inv = p.invert();
        for i in (0..n).rev() {
            let (a, q) = (&acc[i], &addend[i]);
            let dx = q.x.sub(&a.x);
            let mut l = inv.mul(&prefix[i]);
            inv = inv.mul(&dx);
            l = q.y.sub(&a.y).mul(&l);
            let x3 = l.square().sub(&a.x).sub(&q.x);
            let y3 = l.mul(&a.x.sub(&x3)).sub(&a.y);
            acc[i] = Affine { x: x3, y: y3 };
            l.zeroize();
        }
        inv.zeroize();
        p.zeroize();
    }
    let out = acc.iter().map(|a| a.x.to_bytes()).collect();
    for d in digits.iter_mut() {
        d.zeroize();
    }
    for a in acc.iter_mut().chain(addend.iter_mut()) {
        a.x.zeroize();
        a.y.zeroize();
    }
    prefix.zeroize();
    out
}

/// Z^-1 of every point with one field inversion (Montgomery's trick: prefix products, one
/// inversion, then the way back). All Z must be nonzero. Intermediate values are wiped.
fn batch_invert_z(points: &[Jacobian]) -> Vec<Fe> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for p in points {
        prefix.push(acc);
        acc = acc.mul(&p.z);
    }
    let mut inv = acc.invert();
    let mut out = vec![Fe::ZERO; points.len()];
    for i in (0..points.len()).rev() {
        out[i] = inv.mul(&prefix[i]);
        inv = inv.mul(&points[i].z);
    }
    prefix.zeroize();
    inv.zeroize();
    acc.zeroize();
    out
}

/// [k]P (affine) for a valid point P and k ≠ 0. The one entry point for variable-base
/// multiplication.
pub(crate) fn point_mul(p: &AffinePoint, k: &Scalar, backend: Backend) -> PointBytes {
    match backend {
        Backend::Fast => {
            let mut kb: [u8; 32] = k.to_repr().into();
            let mut q = mul_var(&Affine::from_crate(p), &kb);
            kb.zeroize();
            let out = PointBytes::from_affine(&q.to_affine());
            q.zeroize();
            out
        }
        Backend::Crate => crate_bytes(&(::sm2::ProjectivePoint::from(*p) * k).to_affine()),
    }
}

/// ([k]G, [k]P) for encryption, normalized with one shared inversion.
pub(crate) fn base_and_point_mul(
    p: &AffinePoint,
    k: &Scalar,
    backend: Backend,
) -> (PointBytes, PointBytes) {
    match backend {
        Backend::Fast => {
            let mut kb: [u8; 32] = k.to_repr().into();
            let c1 = mul_base(&kb);
            let mut s = mul_var(&Affine::from_crate(p), &kb);
            kb.zeroize();
            let inv = c1.z.mul(&s.z).invert();
            let a1 = c1.to_affine_with(&inv.mul(&s.z));
            let a2 = s.to_affine_with(&inv.mul(&c1.z));
            s.zeroize();
            (PointBytes::from_affine(&a1), PointBytes::from_affine(&a2))
        }
        Backend::Crate => {
            use ::sm2::elliptic_curve::BatchNormalize;
            use ::sm2::ProjectivePoint;
            let [c1, shared] =
                <ProjectivePoint as BatchNormalize<[ProjectivePoint; 2]>>::batch_normalize(&[
                    ProjectivePoint::mul_by_generator(k),
                    ProjectivePoint::from(*p) * k,
                ]);
            (crate_bytes(&c1), crate_bytes(&shared))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::field::tests::Rng;
    use super::*;
    use ::sm2::elliptic_curve::ops::Reduce;
    use ::sm2::{FieldBytes, ProjectivePoint};

    fn scalar(b: [u8; 32]) -> Scalar {
        <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(b))
    }

    fn be(x: [u64; 4]) -> [u8; 32] {
        let mut b = [0u8; 32];
        for i in 0..4 {
            b[24 - 8 * i..32 - 8 * i].copy_from_slice(&x[i].to_be_bytes());
        }
        b
    }

    fn n_minus(k: u64) -> Scalar {
        -Scalar::from(k)
    }

    /// 1..=70, n-70..n-1, 2^i and 2^i ± 1, values with the high bits set, 6 and n-6 (the
    /// doubling case of the last addition), n/2 ± 1.
    fn edge_scalars() -> Vec<Scalar> {
        let mut v = Vec::new();
        // 1..=300 and n-300..n-1 cover both combs' last-window digit patterns (n mod 256 = 35).
        for k in 1..=300u64 {
            v.push(Scalar::from(k));
            v.push(n_minus(k));
        }
        for i in 0..256 {
            let mut b = [0u8; 32];
            b[31 - i / 8] = 1 << (i % 8);
            let s = scalar(b);
            v.push(s);
            v.push(s + Scalar::ONE);
            v.push(s - Scalar::ONE);
        }
        v.push(scalar([0xff; 32]));
        v.push(scalar(be([0, 0, 0, 0xffff_fffe_0000_0000])));
        v.push(scalar(be([u64::MAX, u64::MAX, 0, 0xffff_fffe_ffff_ffff])));
        let half = scalar(be([
            (N[0] >> 1) | (N[1] << 63),
            (N[1] >> 1) | (N[2] << 63),
            (N[2] >> 1) | (N[3] << 63),
            N[3] >> 1,
        ]));
        v.extend([half, half + Scalar::ONE, half - Scalar::ONE]);
        v.retain(|s| !bool::from(s.is_zero()));
        v
    }

    fn random_scalar(rng: &mut Rng) -> Scalar {
        let s = scalar(rng.bytes32());
        if bool::from(s.is_zero()) {
            Scalar::ONE
        } else {
            s
        }
    }

    /// Case count: $var, else `release` in an optimized build and a tenth of it in a debug build
    /// (the CI's `cargo test`); `cargo test --release` runs the full count.
    fn count(var: &str, release: usize) -> usize {
        let default = if cfg!(debug_assertions) {
            release / 10
        } else {
            release
        };
        std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    }

    fn same(a: &PointBytes, b: &PointBytes) -> bool {
        a.x == b.x && a.y == b.y
    }

    #[test]
    fn recoding_reconstructs_odd_scalar() {
        let mut rng = Rng(0x5eed_0101);
        let mut all = edge_scalars();
        all.extend((0..2000).map(|_| random_scalar(&mut rng)));
        for k in all {
            let kb: [u8; 32] = k.to_repr().into();
            let (kk, even) = odd_scalar(&kb);
            let d = recode(&kk);
            let mut acc = Scalar::ONE; // top digit
            for &di in d.iter().rev() {
                assert!(di % 2 != 0 && (-31..=31).contains(&di));
                acc *= Scalar::from(32u64);
                let mag = Scalar::from(di.unsigned_abs() as u64);
                acc += if di < 0 { -mag } else { mag };
            }
            let want = if bool::from(even) { -k } else { k };
            assert_eq!(acc, want);
            assert_eq!(kk[0] & 1, 1);
            let d7 = recode_w::<BASE_W, BASE_DIGITS>(&kk);
            let mut acc = Scalar::ONE;
            for &di in d7.iter().rev() {
                assert!(di % 2 != 0 && (-127..=127).contains(&di));
                acc *= Scalar::from(128u64);
                let mag = Scalar::from(di.unsigned_abs() as u64);
                acc += if di < 0 { -mag } else { mag };
            }
            assert_eq!(acc, want);
        }
    }

    /// Every scan kernel the CPU has returns exactly the indexed entry, for every index of a
    /// full window and of shorter and odd-length tables, with affine (8-limb), Jacobian (12-limb)
    /// and 4-limb entries.
    #[test]
    fn scan_kernels_agree() {
        fn check<const L: usize>(flat: &[[u64; L]]) {
            for len in [1usize, 2, 15, 16, 31, flat.len()] {
                for idx in 0..len as u32 {
                    let want = flat[idx as usize];
                    assert_eq!(scan(&flat[..len], idx), want);
                    assert_eq!(scan_fast(&flat[..len], idx), want);
                    #[cfg(target_arch = "x86_64")]
                    if std::arch::is_x86_feature_detected!("avx2") {
                        // SAFETY: AVX2 present.
                        assert_eq!(unsafe { scan_avx2(&flat[..len], idx) }, want);
                    }
                }
            }
        }
        let w = &base_table().windows[3];
        let limbs: &[u64] =
            // SAFETY: Affine is repr(C), two [u64; 4]: 8 limbs per entry.
            unsafe { core::slice::from_raw_parts(w.as_ptr().cast(), w.len() * 8) };
        let by = |n: usize| {
            limbs
                .chunks_exact(n)
                .map(|c| c.to_vec())
                .collect::<Vec<_>>()
        };
        check::<8>(
            &by(8)
                .iter()
                .map(|c| c[..].try_into().unwrap())
                .collect::<Vec<[u64; 8]>>(),
        );
        check::<12>(
            &by(12)
                .iter()
                .map(|c| c[..].try_into().unwrap())
                .collect::<Vec<[u64; 12]>>(),
        );
        check::<4>(
            &by(4)
                .iter()
                .map(|c| c[..].try_into().unwrap())
                .collect::<Vec<[u64; 4]>>(),
        );
    }

    #[test]
    fn digit_parts_all() {
        for d in (-31i8..=31).filter(|d| d % 2 != 0) {
            let (idx, neg) = digit_parts(d);
            assert_eq!(idx as i32, (d.abs() as i32 - 1) / 2);
            assert_eq!(bool::from(neg), d < 0);
        }
    }

    #[test]
    fn base_table_matches_crate() {
        let t = base_table();
        let thirty_two = Scalar::from(128u64);
        let mut w = Scalar::ONE;
        for j in 0..BASE_DIGITS {
            for i in [0usize, 1, 7, 15, 63] {
                let want =
                    (ProjectivePoint::mul_by_generator(&(w * Scalar::from(2 * i as u64 + 1))))
                        .to_affine();
                let got = &t.windows[j][i];
                assert_eq!(got.x.to_bytes(), <[u8; 32]>::from(want.x()));
                assert_eq!(got.y.to_bytes(), <[u8; 32]>::from(want.y()));
            }
            w *= thirty_two;
        }
        let want = ProjectivePoint::mul_by_generator(&w).to_affine();
        assert_eq!(t.top.x.to_bytes(), <[u8; 32]>::from(want.x()));
    }

    #[test]
    fn point_formulas_match_crate() {
        let mut rng = Rng(0x5eed_0102);
        for _ in 0..300 {
            let a = random_scalar(&mut rng);
            let b = random_scalar(&mut rng);
            let pa = ProjectivePoint::mul_by_generator(&a).to_affine();
            let pb = ProjectivePoint::mul_by_generator(&b).to_affine();
            let ja = Jacobian::from_affine(&Affine::from_crate(&pa))
                .double()
                .double();
            let jb = Jacobian::from_affine(&Affine::from_crate(&pb)).double();
            let a4 = Scalar::from(4u64) * a;
            let b2 = Scalar::from(2u64) * b;
            let (s, hz) = ja.add(&jb);
            assert!(!bool::from(hz));
            let want = ProjectivePoint::mul_by_generator(&(a4 + b2)).to_affine();
            assert_eq!(s.to_affine().x.to_bytes(), <[u8; 32]>::from(want.x()));
            assert_eq!(s.to_affine().y.to_bytes(), <[u8; 32]>::from(want.y()));
            let (m, hz) = ja.add_affine(&Affine::from_crate(&pb));
            assert!(!bool::from(hz));
            let want = ProjectivePoint::mul_by_generator(&(a4 + b)).to_affine();
            assert_eq!(m.to_affine().x.to_bytes(), <[u8; 32]>::from(want.x()));
            assert_eq!(m.to_affine().y.to_bytes(), <[u8; 32]>::from(want.y()));
            // H = 0 is reported for P + P.
            let (_, hz) = ja.add(&ja);
            assert!(bool::from(hz));
        }
    }

    #[test]
    fn base_mul_matches_crate() {
        let mut rng = Rng(0x5eed_0103);
        let mut all = edge_scalars();
        all.extend((0..count("BIDKERNEL_SM2_POINT_CASES", 3000)).map(|_| random_scalar(&mut rng)));
        for k in all {
            let got = base_mul(&k, Backend::Fast);
            let want = base_mul(&k, Backend::Crate);
            assert!(same(&got, &want), "k = {:?}", k);
        }
    }

    #[test]
    fn point_mul_matches_crate() {
        let mut rng = Rng(0x5eed_0104);
        let points: Vec<AffinePoint> = [Scalar::ONE, Scalar::from(2u64), n_minus(1)]
            .into_iter()
            .chain((0..5).map(|_| random_scalar(&mut rng)))
            .map(|s| ProjectivePoint::mul_by_generator(&s).to_affine())
            .collect();
        let edge_points = if cfg!(debug_assertions) {
            2
        } else {
            points.len()
        };
        for p in &points[..edge_points] {
            for k in edge_scalars() {
                let got = point_mul(p, &k, Backend::Fast);
                let want = point_mul(p, &k, Backend::Crate);
                assert!(same(&got, &want), "k = {:?}", k);
            }
        }
        for i in 0..count("BIDKERNEL_SM2_POINT_CASES", 3000) {
            let k = random_scalar(&mut rng);
            let p = if i % 10 == 0 {
                points[i % points.len()]
            } else {
                ProjectivePoint::mul_by_generator(&random_scalar(&mut rng)).to_affine()
            };
            let got = point_mul(&p, &k, Backend::Fast);
            let want = point_mul(&p, &k, Backend::Crate);
            assert!(same(&got, &want), "k = {:?}", k);
        }
    }

    #[test]
    fn doubling_case_is_reached() {
        // k' = n - 6 makes the last addition add the accumulator to itself.
        for k in [Scalar::from(6u64), n_minus(6)] {
            let kb: [u8; 32] = k.to_repr().into();
            let (kk, _) = odd_scalar(&kb);
            let d = recode(&kk);
            assert_eq!(d[0], -3);
            let g = generator();
            let got = mul_var(&g, &kb).to_affine();
            let want = ProjectivePoint::mul_by_generator(&k).to_affine();
            assert_eq!(got.x.to_bytes(), <[u8; 32]>::from(want.x()));
            let got = mul_base(&kb).to_affine();
            assert_eq!(got.y.to_bytes(), <[u8; 32]>::from(want.y()));
        }
    }

    #[test]
    fn base_mul_x_batch_matches_single() {
        // Every edge scalar of the comb (1,373 of them) in one lockstep batch, then random ones in
        // batches of the pool's sizes and of one (the inversion then covers a single step).
        let edge = edge_scalars();
        for (k, x) in edge.iter().zip(&base_mul_x_batch(&edge)) {
            assert_eq!(*x, base_mul(k, Backend::Crate).x);
        }
        let mut rng = Rng(0x5eed_0106);
        for n in [1, 2, 32, 256] {
            let ks: Vec<Scalar> = (0..n).map(|_| random_scalar(&mut rng)).collect();
            for (k, x) in ks.iter().zip(&base_mul_x_batch(&ks)) {
                assert_eq!(*x, base_mul(k, Backend::Crate).x);
            }
        }
    }

    #[test]
    fn encrypt_pair_matches_crate() {
        let mut rng = Rng(0x5eed_0105);
        for _ in 0..300 {
            let k = random_scalar(&mut rng);
            let p = ProjectivePoint::mul_by_generator(&random_scalar(&mut rng)).to_affine();
            let (a1, a2) = base_and_point_mul(&p, &k, Backend::Fast);
            let (b1, b2) = base_and_point_mul(&p, &k, Backend::Crate);
            assert!(same(&a1, &b1) && same(&a2, &b2));
        }
    }
}

// Measurement harnesses, not checks: built only with `--features measure` (they print, assert nothing).
#[cfg(all(test, feature = "measure"))]
mod timing {
    //! `taskset -c 0 cargo test --release --features measure timing_min -- --nocapture`: per-operation cost
    //! (minimum over rounds), against the crate's field and the generic CIOS form.
    use super::super::field::tests::Rng;
    use super::*;
    use std::hint::black_box;
    use std::time::Instant;

    /// Minimum over 30 rounds of the per-iteration time of `f` run `n` times (robust to preemption).
    fn min_ns(n: u32, mut f: impl FnMut()) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..30 {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
        best
    }

    /// Welch's t of fixed (k = 6) against random scalars for `f`, classes interleaved at random,
    /// cropped at the 75th percentile.
    fn dudect(n: usize, f: impl Fn(&[u8; 32])) -> (f64, f64, f64) {
        let mut rng = Rng(0xdede);
        let mut fixed = [0u8; 32];
        fixed[31] = 6;
        let pool: Vec<[u8; 32]> = (0..4096)
            .map(|_| {
                let mut b = rng.bytes32();
                b[0] &= 0x7f;
                b
            })
            .collect();
        let fixed_pool = vec![fixed; 4096];
        let mut t = Vec::with_capacity(n);
        for i in 0..n {
            let c = (rng.next() & 1) as usize;
            let k = if c == 0 {
                &fixed_pool[i % 4096]
            } else {
                &pool[i % 4096]
            };
            let t0 = Instant::now();
            f(black_box(k));
            t.push((c, t0.elapsed().as_nanos() as f64));
        }
        let mut sorted: Vec<f64> = t.iter().map(|x| x.1).collect();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let cut = sorted[sorted.len() * 3 / 4];
        let stats = |c: usize| {
            let v: Vec<f64> = t
                .iter()
                .filter(|x| x.0 == c && x.1 <= cut)
                .map(|x| x.1)
                .collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (v.len() as f64 - 1.0);
            (v.len() as f64, m, var)
        };
        let (na, ma, va) = stats(0);
        let (nb, mb, vb) = stats(1);
        ((ma - mb) / (va / na + vb / nb).sqrt(), ma, mb)
    }

    #[test]
    fn dudect_pieces() {
        let n: usize = std::env::var("DUDECT_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        let r = dudect(n, |k| {
            black_box(mul_base(k));
        });
        println!(
            "mul_base: t = {:.2} (means {:.1} / {:.1} ns)",
            r.0, r.1, r.2
        );
        let r = dudect(n, |k| {
            black_box(mul_base(k).to_affine());
        });
        println!(
            "mul_base + to_affine: t = {:.2} (means {:.1} / {:.1} ns)",
            r.0, r.1, r.2
        );
        // The nonce pool's lockstep batch: 32 copies of the class's scalar (fixed: k = 6 in every
        // lane), a tenth as many measurements as each costs about 30 single [k]G.
        let r = dudect(n / 10, |k| {
            let s = Option::<Scalar>::from(Scalar::from_repr((*k).into())).unwrap();
            black_box(base_mul_x_batch(&[s; 32]));
        });
        println!(
            "base_mul_x_batch (32 lanes): t = {:.2} (means {:.1} / {:.1} ns)",
            r.0, r.1, r.2
        );
        let r = dudect(n, |k| {
            let s = Option::<Scalar>::from(Scalar::from_repr((*k).into())).unwrap();
            black_box((s + Scalar::ONE).invert());
        });
        println!(
            "crate (d+1)^-1: t = {:.2} (means {:.1} / {:.1} ns)",
            r.0, r.1, r.2
        );
    }

    #[test]
    fn timing_min() {
        use super::super::field::mont_mul_cios;
        use ::sm2::elliptic_curve::hazmat::FieldArithmetic;
        type CFe = <::sm2::Sm2 as FieldArithmetic>::FieldElement;
        let mut rng = Rng(9);
        let mut a = Fe::from_bytes(&{
            let mut b = rng.bytes32();
            b[0] = 0x10;
            b
        })
        .unwrap();
        let b = a.square();
        let mut c = CFe::from_repr(a.to_bytes().into()).unwrap();
        let d = c.square();
        let mut x = a.0;
        for _ in 0..3 {
            let m = min_ns(20_000, || a = black_box(a).mul(&b));
            let s = min_ns(20_000, || a = black_box(a).square());
            let ci = min_ns(20_000, || x = mont_mul_cios(black_box(&x), &b.0));
            let cr = min_ns(20_000, || c = black_box(c) * d);
            let g = min_ns(20_000, || {
                x = super::super::field::mont_mul_generic(black_box(&x), &b.0)
            });
            let q = min_ns(20_000, || {
                x = super::super::field::mont_mul_mulq(black_box(&x), &b.0)
            });
            let mm = min_ns(20_000, || {
                x = super::super::field::mont_mul_sos(black_box(&x), &b.0)
            });
            println!(
                "mul {m:.1} ns  sqr {s:.1} ns  cios {ci:.1} ns  crate {cr:.1} ns mul_sos {mm:.1} \
                 generic {g:.1} ns mulq {q:.1} ns"
            );
        }
        let k = rng.bytes32().map(|x| x & 0x7f);
        let g = generator();
        let v = min_ns(50, || {
            black_box(mul_var(black_box(&g), &k));
        });
        let bm = min_ns(200, || {
            black_box(mul_base(black_box(&k)));
        });
        let inv = min_ns(200, || {
            a = black_box(a).invert();
        });
        let invf = min_ns(200, || {
            a = black_box(a).invert_fermat();
        });
        println!("invert_fermat {:.2} us", invf / 1e3);
        let rnd = min_ns(2000, || {
            black_box(crate::gm_sm2::random_nonzero_scalar().unwrap());
        });
        let key = crate::gm_sm2::keys::PrivateKey::generate().unwrap();
        let sg = min_ns(2000, || {
            black_box(
                crate::gm_sm2::dsa::sign(
                    &key,
                    b"0123456789abcdef0123456789abcdef",
                    b"1234567812345678",
                )
                .unwrap(),
            );
        });
        let bmul = min_ns(2000, || {
            black_box(base_mul(&Scalar::from(12345u64), Backend::Fast));
        });
        println!(
            "random scalar {rnd:.1} ns  sign {:.2} us  base_mul+affine {:.2} us",
            sg / 1e3,
            bmul / 1e3
        );
        let tbl = &base_table().windows[7][..16];
        let lk = min_ns(20_000, || {
            black_box(lookup_affine(black_box(tbl), black_box(-13)));
        });
        let w64 = &base_table().windows[7][..];
        let lk64 = min_ns(20_000, || {
            black_box(lookup_affine(black_box(w64), black_box(-13)));
        });
        println!("lookup_affine over 64 entries {lk64:.1} ns");
        let mut q = mul_base(&k);
        let ma = min_ns(20_000, || {
            q = black_box(q).add_affine(&tbl[3]).0;
        });
        let db = min_ns(20_000, || {
            q = black_box(q).double();
        });
        let ad = min_ns(20_000, || {
            a = black_box(a).add(&b);
        });
        println!(
            "mul_var {:.1} us  mul_base {:.1} us  invert {:.1} us  lookup_affine {lk:.1} ns  \
             madd {ma:.1} ns  dbl {db:.1} ns  fe_add {ad:.1} ns",
            v / 1e3,
            bm / 1e3,
            inv / 1e3
        );
        black_box((a, c, x));
    }
}
