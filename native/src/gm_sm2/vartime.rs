//! Variable-time [s]G + [t]P for signature verification (GB/T 32918.2, 7.1 B6-B7).
//!
//! Only ever used on public data (a public key, a signature, a message digest), so it may branch on
//! its inputs. It works in Jacobian coordinates with the a = -3 doubling of the SM2 curve
//! (`dbl-2001-b` in 4M+4S, small multiples by additions), mixed additions of precomputed affine odd
//! multiples of G (8M+3S)
//! and full Jacobian additions of odd multiples of P (12M+4S), both scalars in wNAF form,
//! sharing one chain of doublings. The final test `(e + x1) mod n == r` is done without an inversion:
//! x1 = X/Z² equals c = (r - e) mod n iff X == c·Z², and only when c < p - n does the rare second
//! candidate x1 = c + n need the exact affine x.
//!
//! Field elements are ours (`super::field`, differentially tested against the crate's
//! fiat-crypto field, which this file used before; the crate's complete formulas remain the
//! reference in the tests below); the exceptional
//! cases of the incomplete Jacobian formulas (P = Q, P = -Q, infinity) are handled explicitly, so the
//! result is exact for every input. Cross-checked against the crate's own complete-formula
//! `lincomb_vartime` in the tests below.

use ::sm2::elliptic_curve::ff::PrimeField;
use ::sm2::elliptic_curve::ops::Reduce;
use ::sm2::elliptic_curve::point::AffineCoordinates;
use ::sm2::{AffinePoint, FieldBytes, ProjectivePoint, PublicKey, Scalar};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

use super::{field, point};

/// Our SM2 field element ([`super::field::Fe`], about 1.7x faster than the crate's) with the
/// operator syntax used by the formulas below. All inputs here are public.
#[derive(Clone, Copy, Debug)]
struct Fe(field::Fe);

impl Fe {
    const ONE: Fe = Fe(field::Fe::ONE);
    const ZERO: Fe = Fe(field::Fe::ZERO);

    fn from_repr(b: FieldBytes) -> Option<Fe> {
        field::Fe::from_bytes(&b.into()).map(Fe)
    }

    fn to_repr(self) -> FieldBytes {
        FieldBytes::from(self.0.to_bytes())
    }

    #[inline(always)]
    fn square(&self) -> Fe {
        Fe(self.0.square())
    }

    #[inline(always)]
    fn double(&self) -> Fe {
        Fe(self.0.double())
    }

    #[inline(always)]
    fn half(&self) -> Fe {
        Fe(self.0.half())
    }

    /// Zero test with a plain branchable compare (public data; `field::Fe::is_zero` builds a
    /// `Choice` through an optimisation barrier).
    #[inline(always)]
    fn is_zero(&self) -> bool {
        let l = &self.0 .0;
        (l[0] | l[1] | l[2] | l[3]) == 0
    }

    /// None for zero.
    fn invert(&self) -> Option<Fe> {
        if self.is_zero() {
            None
        } else {
            Some(Fe(self.0.invert()))
        }
    }
}

impl PartialEq for Fe {
    fn eq(&self, o: &Fe) -> bool {
        bool::from(self.0.ct_eq(&o.0))
    }
}

impl core::ops::Add for Fe {
    type Output = Fe;
    #[inline(always)]
    fn add(self, o: Fe) -> Fe {
        Fe(self.0.add(&o.0))
    }
}

impl core::ops::Sub for Fe {
    type Output = Fe;
    #[inline(always)]
    fn sub(self, o: Fe) -> Fe {
        Fe(self.0.sub(&o.0))
    }
}

impl core::ops::Mul for Fe {
    type Output = Fe;
    #[inline(always)]
    fn mul(self, o: Fe) -> Fe {
        Fe(self.0.mul(&o.0))
    }
}

impl core::ops::Neg for Fe {
    type Output = Fe;
    #[inline(always)]
    fn neg(self) -> Fe {
        Fe(self.0.neg())
    }
}

/// Window of the wNAF of the scalar of G: a precomputed table of 2^(W-2) = 1,024 affine odd
/// multiples (64 KiB, built once), about 256/13 ≈ 20 additions per verification. A/B against
/// GmSSL in one run (docs/performance.md): W = 8 (64 points) verified 0.97x, 10 0.98x, 12 1.01x,
/// 14 (256 KiB) 1.04x; 12 keeps the table within a quarter of a Zen 4 core's L2.
const G_WINDOW: u32 = 12;
/// Window of the wNAF of the scalar of P (table of 16 Jacobian points built per call with the
/// co-Z additions of [`super::point::odd_multiples_co_z`]; ~37 additions in the main loop).
const P_WINDOW: u32 = 6;

/// p - n for sm2p256v1 (big-endian): c < p - n is the only case where x1 = c + n is possible.
const P_MINUS_N: [u8; 32] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x8d, 0xfc, 0x20, 0x93, 0xde, 0x39, 0xfa, 0xd5,
    0xac, 0x44, 0x0b, 0xf6, 0xc6, 0x2a, 0xbe, 0xdc,
];

#[derive(Clone, Copy)]
struct Affine {
    x: Fe,
    y: Fe,
}

impl Affine {
    fn from_point(p: &AffinePoint) -> Self {
        let x = Fe::from_repr(p.x()).expect("canonical coordinate from the curve crate");
        let y = Fe::from_repr(p.y()).expect("canonical coordinate from the curve crate");
        Self { x, y }
    }

    fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: -self.y,
        }
    }
}

/// Jacobian point (X, Y, Z) for (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Clone, Copy)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Jacobian {
    const INFINITY: Self = Self {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    fn from_affine(a: &Affine) -> Self {
        Self {
            x: a.x,
            y: a.y,
            z: Fe::ONE,
        }
    }

    fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: -self.y,
            z: self.z,
        }
    }

    /// dbl-2001-b (a = -3) in 4M + 4S, as [`super::point`]'s constant-time doubling. A point with y = 0
    /// would give Z3 = 0 (infinity), as it should.
    #[inline(always)]
    fn double(&self) -> Self {
        if self.is_infinity() {
            return *self;
        }
        let s = self.y.double().square();
        let delta = self.z.square();
        let t = (self.x - delta) * (self.x + delta);
        let beta4 = s * self.x;
        let alpha = t.double() + t;
        let z3 = (self.y * self.z).double();
        let x3 = alpha.square() - beta4.double();
        let g8 = s.square().half();
        let y3 = alpha * (beta4 - x3) - g8;
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// Mixed addition (8M + 3S, as [`super::point`]'s): self + q with q affine (Z = 1).
    fn add_affine(&self, q: &Affine) -> Self {
        if self.is_infinity() {
            return Self::from_affine(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x * z1z1;
        let s2 = q.y * (self.z * z1z1);
        let h = u2 - self.x;
        let r = s2 - self.y;
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Self::INFINITY
            };
        }
        let hh = h.square();
        let hhh = h * hh;
        let v = self.x * hh;
        let x3 = r.square() - hhh - v.double();
        let y3 = r * (v - x3) - self.y * hhh;
        Self {
            x: x3,
            y: y3,
            z: self.z * h,
        }
    }

    /// Jacobian addition (12M + 4S, as [`super::point`]'s): self + q.
    fn add(&self, q: &Self) -> Self {
        if self.is_infinity() {
            return *q;
        }
        if q.is_infinity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x * z2z2;
        let u2 = q.x * z1z1;
        let s1 = self.y * (q.z * z2z2);
        let s2 = q.y * (self.z * z1z1);
        let h = u2 - u1;
        let r = s2 - s1;
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Self::INFINITY
            };
        }
        let hh = h.square();
        let hhh = h * hh;
        let v = u1 * hh;
        let x3 = r.square() - hhh - v.double();
        let y3 = r * (v - x3) - s1 * hhh;
        Self {
            x: x3,
            y: y3,
            z: self.z * q.z * h,
        }
    }

    /// Affine x as bytes (one inversion); None at infinity.
    fn affine_x(&self) -> Option<FieldBytes> {
        let zinv = self.z.invert()?;
        Some((self.x * zinv.square()).to_repr())
    }
}

/// Width-w NAF of a 256-bit big-endian scalar: digits odd in (-2^(w-1), 2^(w-1)) or 0, LSB first.
fn wnaf(bytes: &[u8; 32], w: u32) -> [i16; 257] {
    // Little-endian 64-bit limbs with one spare limb for the carry of negative digits.
    let mut k = [0u64; 5];
    for (i, chunk) in bytes.rchunks(8).enumerate() {
        let mut limb = [0u8; 8];
        limb.copy_from_slice(chunk);
        k[i] = u64::from_be_bytes(limb);
    }
    let mut out = [0i16; 257];
    let window = 1u64 << w;
    let half = 1u64 << (w - 1);
    let mut pos = 0usize;
    while k.iter().any(|&l| l != 0) {
        if k[0] & 1 == 1 {
            let m = k[0] & (window - 1);
            if m >= half {
                // digit = m - 2^w (negative): k += 2^w - m
                let add = window - m;
                let (v, mut carry) = k[0].overflowing_add(add);
                k[0] = v;
                let mut i = 1;
                while carry && i < k.len() {
                    let (v, c) = k[i].overflowing_add(1);
                    k[i] = v;
                    carry = c;
                    i += 1;
                }
                out[pos] = -i16::try_from(add).expect("digit below 2^15");
            } else {
                k[0] -= m; // no borrow: m equals the low bits
                out[pos] = i16::try_from(m).expect("digit below 2^15");
            }
        }
        // k >>= s: past the digit just taken (k is now even) and the run of zeros after it, in
        // one shift (the zero digits are already in `out`).
        let s = if k[0] == 0 { 64 } else { k[0].trailing_zeros() };
        if s == 64 {
            k.copy_within(1.., 0);
            k[4] = 0;
        } else {
            for i in 0..k.len() {
                let next = if i + 1 < k.len() {
                    k[i + 1] << (64 - s)
                } else {
                    0
                };
                k[i] = (k[i] >> s) | next;
            }
        }
        pos += s as usize;
    }
    out
}

fn g_table() -> &'static [Affine] {
    static TABLE: OnceLock<Vec<Affine>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use ::sm2::elliptic_curve::BatchNormalize;
        let g = ProjectivePoint::GENERATOR;
        let g2 = g + g;
        let mut jac = Vec::with_capacity(1 << (G_WINDOW - 2));
        let mut cur = g;
        for _ in 0..(1 << (G_WINDOW - 2)) {
            jac.push(cur);
            cur += g2;
        }
        <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(&jac[..])
            .iter()
            .map(Affine::from_point)
            .collect()
    })
}

/// The odd multiples 1P, 3P, …, 31P (P ≠ infinity: a validated public key).
fn p_table(p: &AffinePoint) -> [Jacobian; 1 << (P_WINDOW - 2)] {
    let mut t = [point::Jacobian::default(); point::TABLE];
    point::odd_multiples_co_z(&point::Affine::from_crate(p), &mut t);
    t.map(|q| Jacobian {
        x: Fe(q.x),
        y: Fe(q.y),
        z: Fe(q.z),
    })
}

/// [a]G + [b]P in Jacobian coordinates.
fn double_mul(a: &Scalar, b: &Scalar, p: &PublicKey) -> Jacobian {
    let na = wnaf(&a.to_repr().into(), G_WINDOW);
    let nb = wnaf(&b.to_repr().into(), P_WINDOW);
    let gt = g_table();
    let pt = p_table(p.as_affine());
    let top = (0..257).rev().find(|&i| na[i] != 0 || nb[i] != 0);
    let Some(top) = top else {
        return Jacobian::INFINITY;
    };
    let mut acc = Jacobian::INFINITY;
    for i in (0..=top).rev() {
        acc = acc.double();
        let da = na[i];
        if da > 0 {
            acc = acc.add_affine(&gt[usize::from(da.unsigned_abs() / 2)]);
        } else if da < 0 {
            acc = acc.add_affine(&gt[usize::from(da.unsigned_abs() / 2)].neg());
        }
        let db = nb[i];
        if db > 0 {
            acc = acc.add(&pt[usize::from(db.unsigned_abs() / 2)]);
        } else if db < 0 {
            acc = acc.add(&pt[usize::from(db.unsigned_abs() / 2)].neg());
        }
    }
    acc
}

/// The check of GB/T 32918.2 7.1 B6-B7: (x1, y1) = [s]G + [t]P; accept iff (e + x1) mod n == r.
/// `t` must already be checked non-zero by the caller.
pub(crate) fn verify_equation(
    e: &Scalar,
    r: &Scalar,
    s: &Scalar,
    t: &Scalar,
    p: &PublicKey,
) -> bool {
    let acc = double_mul(s, t, p);
    if acc.is_infinity() {
        return false;
    }
    // c = (r - e) mod n, the x1 we need (mod n).
    let c = (*r - e).to_repr();
    let c_fe = Fe::from_repr(c).expect("c < n < p is a canonical field element");
    if acc.x == c_fe * acc.z.square() {
        return true;
    }
    // x1 could also be c + n, which is below p only when c < p - n.
    if c.as_slice() < P_MINUS_N.as_slice() {
        if let Some(x1) = acc.affine_x() {
            return <Scalar as Reduce<FieldBytes>>::reduce(&x1) == *r - e;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::sm2::elliptic_curve::ff::Field;
    use ::sm2::elliptic_curve::ops::LinearCombination;
    use ::sm2::elliptic_curve::Group;

    fn rand_scalar() -> Scalar {
        super::super::random_nonzero_scalar().unwrap()
    }

    fn reference_x(a: &Scalar, b: &Scalar, p: &PublicKey) -> Option<FieldBytes> {
        let q = ProjectivePoint::lincomb_vartime(&[
            (ProjectivePoint::GENERATOR, *a),
            (ProjectivePoint::from(*p.as_affine()), *b),
        ]);
        if bool::from(q.is_identity()) {
            None
        } else {
            Some(q.to_affine().x())
        }
    }

    fn check(a: &Scalar, b: &Scalar, p: &PublicKey) {
        assert_eq!(double_mul(a, b, p).affine_x(), reference_x(a, b, p));
    }

    #[test]
    fn p_minus_n_constant() {
        let v = super::super::testvec::load();
        let p = hex::decode(v["curve"]["p"].as_str().unwrap()).unwrap();
        let n = hex::decode(v["curve"]["n"].as_str().unwrap()).unwrap();
        // p - n by schoolbook subtraction on bytes.
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(p[i]) - i16::from(n[i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            out[i] = u8::try_from(d).unwrap();
        }
        assert_eq!(out, P_MINUS_N);
    }

    #[test]
    fn wnaf_reconstructs_scalar() {
        for _ in 0..200 {
            let k = rand_scalar();
            for w in [P_WINDOW, G_WINDOW] {
                let digits = wnaf(&k.to_repr().into(), w);
                let mut acc = Scalar::ZERO;
                for d in digits.iter().rev() {
                    acc = acc.double();
                    let m = Scalar::from(u64::from(d.unsigned_abs()));
                    acc = if *d < 0 { acc - m } else { acc + m };
                }
                assert_eq!(acc, k);
                for d in digits {
                    assert!(d == 0 || (d % 2 != 0 && i32::from(d).abs() < (1 << (w - 1))));
                }
            }
        }
        let max = -Scalar::ONE; // n - 1
        let digits = wnaf(&max.to_repr().into(), G_WINDOW);
        let mut acc = Scalar::ZERO;
        for d in digits.iter().rev() {
            acc = acc.double();
            let m = Scalar::from(u64::from(d.unsigned_abs()));
            acc = if *d < 0 { acc - m } else { acc + m };
        }
        assert_eq!(acc, max);
    }

    #[test]
    fn matches_complete_formulas_random() {
        for _ in 0..300 {
            let p =
                PublicKey::from_secret_scalar(&::sm2::NonZeroScalar::new(rand_scalar()).unwrap());
            check(&rand_scalar(), &rand_scalar(), &p);
        }
    }

    #[test]
    fn matches_complete_formulas_exceptional() {
        let g = PublicKey::from_affine(ProjectivePoint::GENERATOR.to_affine()).unwrap();
        let minus_g = PublicKey::from_affine((-ProjectivePoint::GENERATOR).to_affine()).unwrap();
        let small = |v: u64| Scalar::from(v);
        // P = G and P = -G make the two chains collide: doubling and cancellation inside additions.
        for p in [&g, &minus_g] {
            for a in 0..40u64 {
                for b in [0u64, 1, 2, 3, 5, 7, 31, 33, 64, 65, 127] {
                    check(&small(a), &small(b), p);
                }
            }
            for _ in 0..50 {
                let a = rand_scalar();
                check(&a, &a, p);
                check(&a, &-a, p);
                check(&a, &(a + Scalar::ONE), p);
                check(&-a, &a, p);
            }
        }
        // [a]G + [n-a]G = O (infinity) and the n-1 edge.
        let a = rand_scalar();
        assert!(double_mul(&a, &-a, &g).is_infinity());
        check(&-Scalar::ONE, &Scalar::ONE, &g);
        check(&-Scalar::ONE, &-Scalar::ONE, &g);
        let p = PublicKey::from_secret_scalar(&::sm2::NonZeroScalar::new(rand_scalar()).unwrap());
        check(&Scalar::ZERO, &Scalar::ONE, &p);
        check(&Scalar::ONE, &Scalar::ZERO, &p);
        assert!(double_mul(&Scalar::ZERO, &Scalar::ZERO, &p).is_infinity());
    }

    #[test]
    fn second_candidate_x_plus_n() {
        use ::sm2::elliptic_curve::hazmat::FieldArithmetic;
        type CrateFe = <::sm2::Sm2 as FieldArithmetic>::FieldElement;
        // A curve point Q whose x lies in [n, p): with s = 0, t = 1, P = Q we get x1 = x >= n,
        // so (e + x1) mod n = e + (x - n) and only the exact (inversion) path can accept it.
        let v = super::super::testvec::load();
        let hexfe = |f: &str| {
            let b = hex::decode(v["curve"][f].as_str().unwrap()).unwrap();
            CrateFe::from_repr(FieldBytes::try_from(b.as_slice()).unwrap()).unwrap()
        };
        let bcoef = hexfe("b");
        let mut xb = hex::decode(v["curve"]["n"].as_str().unwrap()).unwrap();
        let q = loop {
            xb[31] += 1;
            let x = CrateFe::from_repr(FieldBytes::try_from(xb.as_slice()).unwrap()).unwrap();
            let rhs = x.square() * x - x.double() - x + bcoef;
            if let Some(y) = Option::<CrateFe>::from(rhs.sqrt()) {
                let pt = Option::<AffinePoint>::from(AffinePoint::from_coordinates(
                    &x.to_repr(),
                    &y.to_repr(),
                ))
                .expect("on the curve");
                break PublicKey::from_affine(pt).unwrap();
            }
        };
        let x1 = double_mul(&Scalar::ZERO, &Scalar::ONE, &q)
            .affine_x()
            .unwrap();
        assert_eq!(x1.to_vec(), xb);
        let e = rand_scalar();
        let r = e + <Scalar as Reduce<FieldBytes>>::reduce(&x1);
        assert!(verify_equation(&e, &r, &Scalar::ZERO, &Scalar::ONE, &q));
        assert!(!verify_equation(
            &e,
            &(r + Scalar::ONE),
            &Scalar::ZERO,
            &Scalar::ONE,
            &q
        ));
        // r - e = x1 taken literally (not reduced) is not a valid x1 mod n: reject.
        let mut lit = xb.clone();
        lit[0] = 0; // any value differing from x1 mod n
        let c =
            <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::try_from(lit.as_slice()).unwrap());
        assert!(!verify_equation(
            &e,
            &(e + c),
            &Scalar::ZERO,
            &Scalar::ONE,
            &q
        ));
    }
}
