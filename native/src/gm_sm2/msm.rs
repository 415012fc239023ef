//! Multi-scalar multiplication Σ [k_i]P_i over public SM2 points (GB/T 32918.1 curve arithmetic).
//!
//! Used to check verifiable secret shares (Feldman VSS, the opening's threshold custody): every
//! input is public (commitments [a_j]G, share indices), so the crate's projective arithmetic is used
//! as is; no secret ever passes through here. The point at infinity has no SEC1 encoding in our API,
//! so an identity sum is reported as `None`.

use ::sm2::elliptic_curve::ff::PrimeField;
use ::sm2::elliptic_curve::group::Group;
use ::sm2::elliptic_curve::ops::Reduce;
use ::sm2::{AffinePoint, FieldBytes, ProjectivePoint, PublicKey, Scalar};

use super::keys::{encode_point, parse_point};
use super::{Result, Sm2Error, POINT_LEN};

/// Σ [k_i]P_i. Points are SEC1 (65-byte uncompressed or 33-byte compressed; the generator is
/// passed like any other point); scalars are 32-byte big-endian integers, reduced mod n.
/// Returns the 65-byte uncompressed sum, or `None` for the point at infinity.
pub fn multi_scalar_mul(points: &[&[u8]], scalars: &[[u8; 32]]) -> Result<Option<[u8; POINT_LEN]>> {
    if points.len() != scalars.len() {
        return Err(Sm2Error::InvalidInput(
            "as many scalars as points are needed",
        ));
    }
    let mut acc = ProjectivePoint::identity();
    for (p, k) in points.iter().zip(scalars) {
        let p = parse_point(p)?;
        let fb = FieldBytes::from(*k);
        let k = Option::<Scalar>::from(Scalar::from_repr(fb))
            .unwrap_or_else(|| <Scalar as Reduce<FieldBytes>>::reduce(&fb));
        acc += p.to_projective() * k;
    }
    if bool::from(acc.is_identity()) {
        return Ok(None);
    }
    let affine: AffinePoint = acc.into();
    let pk = PublicKey::from_affine(affine)
        .map_err(|_| Sm2Error::InvalidKey("sum is not a valid point"))?;
    Ok(Some(encode_point(&pk)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gm_sm2::keys::PrivateKey;

    fn g() -> [u8; 65] {
        let one = PrivateKey::from_bytes(&{
            let mut b = [0u8; 32];
            b[31] = 1;
            b
        })
        .unwrap();
        *one.public_bytes()
    }

    fn scalar(v: u64) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&v.to_be_bytes());
        b
    }

    #[test]
    fn matches_public_key_derivation() {
        // [a]G + [b]G == [a+b]G, and [c]([d]G) == public key of c*d
        let gp = g();
        let s = multi_scalar_mul(&[&gp, &gp], &[scalar(5), scalar(7)])
            .unwrap()
            .unwrap();
        let k12 = PrivateKey::from_bytes(&scalar(12)).unwrap();
        assert_eq!(&s, k12.public_bytes());
        let d = PrivateKey::from_bytes(&scalar(1234567)).unwrap();
        let s = multi_scalar_mul(&[d.public_bytes()], &[scalar(89)])
            .unwrap()
            .unwrap();
        let k = PrivateKey::from_bytes(&scalar(1234567 * 89)).unwrap();
        assert_eq!(&s, k.public_bytes());
    }

    #[test]
    fn identity_and_errors() {
        let gp = g();
        // n - 1 times G plus G is the point at infinity
        let n_minus_1: [u8; 32] = (-Scalar::ONE).to_repr().into();
        assert_eq!(
            multi_scalar_mul(&[&gp, &gp], &[n_minus_1, scalar(1)]).unwrap(),
            None
        );
        assert!(multi_scalar_mul(&[&gp], &[]).is_err());
        let mut bad = gp;
        bad[64] ^= 1;
        assert!(multi_scalar_mul(&[&bad], &[scalar(1)]).is_err());
        assert_eq!(multi_scalar_mul(&[], &[]).unwrap(), None);
    }
}
