//! SM2 digital signatures (GB/T 32918.2).
//!
//! * Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (clause 5.5), any byte-string ID.
//! * e = SM3(Z || M) (clause 6.1 A1-A2).
//! * Signing (clause 6.1): k uniform in [1, n-1] from the OS CSPRNG, (x1, y1) = [k]G,
//!   r = (e + x1) mod n, s = (1+d)^-1 (k - r d) mod n, retry on r = 0, r + k = n or s = 0.
//! * Verification (clause 7.1): r, s in [1, n-1], t = (r + s) mod n != 0,
//!   (x1, y1) = [s]G + [t]P_A, accept iff (e + x1) mod n = r.
//!
//! Signatures are DER `SEQUENCE { r INTEGER, s INTEGER }` (GM/T 0009, 7.3) or raw r||s (64 bytes).

use super::keys::PrivateKey;
use super::point::{base_mul, Backend};
use super::{pad32, Result, Sm2Error, FIELD_LEN, MAX_ID_LEN};
use ::sm2::elliptic_curve::ff::PrimeField;
use ::sm2::elliptic_curve::ops::Reduce;
use ::sm2::{FieldBytes, PublicKey, Scalar};
use der::asn1::UintRef;
use der::{Decode, Encode, Sequence};
use sm3::{Digest, Sm3};
use zeroize::Zeroize;

/// Default distinguishing ID of GM/T 0009-2012 clause 10.
pub const DEFAULT_ID: &[u8] = b"1234567812345678";

/// Signature encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigFormat {
    /// DER `SEQUENCE { r INTEGER, s INTEGER }`.
    Der,
    /// Raw r || s, 32 bytes each, big-endian.
    Raw,
}

impl SigFormat {
    /// Parse "der" / "raw".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "der" => Ok(SigFormat::Der),
            "raw" => Ok(SigFormat::Raw),
            _ => Err(Sm2Error::InvalidInput(
                "signature format must be 'der' or 'raw'",
            )),
        }
    }
}

// Curve constants of GB/T 32918.5 clause 4 (sm2p256v1), as they enter Z.
const A: [u8; 32] = hex32("fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc");
const B: [u8; 32] = hex32("28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93");
const GX: [u8; 32] = hex32("32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7");
const GY: [u8; 32] = hex32("bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0");

const fn hex32(s: &str) -> [u8; 32] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nib(b[2 * i]) << 4) | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Z_A of GB/T 32918.2 clause 5.5 for a 65-byte uncompressed public point.
pub fn compute_z_bytes(public_point: &[u8; 65], id: &[u8]) -> Result<[u8; 32]> {
    if id.len() > MAX_ID_LEN {
        return Err(Sm2Error::InvalidInput(
            "distinguishing ID longer than 8191 bytes",
        ));
    }
    // Fits: checked against MAX_ID_LEN above.
    let entl = u16::try_from(id.len() * 8).map_err(|_| Sm2Error::InvalidInput("ID too long"))?;
    let mut h = Sm3::new();
    h.update(entl.to_be_bytes());
    h.update(id);
    h.update(A);
    h.update(B);
    h.update(GX);
    h.update(GY);
    h.update(&public_point[1..]);
    Ok(h.finalize().into())
}

/// Z_A for a parsed public key.
pub fn compute_z(public: &PublicKey, id: &[u8]) -> Result<[u8; 32]> {
    compute_z_bytes(&super::keys::encode_point(public), id)
}

/// e = SM3(Z_A || M) (GB/T 32918.2, 6.1 A1-A2).
pub fn compute_e(z: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(z);
    h.update(msg);
    h.finalize().into()
}

fn e_scalar(e: &[u8]) -> Result<Scalar> {
    if e.len() != FIELD_LEN {
        return Err(Sm2Error::InvalidInput("digest e must be 32 bytes"));
    }
    let mut fb = FieldBytes::default();
    fb.copy_from_slice(e);
    Ok(<Scalar as Reduce<FieldBytes>>::reduce(&fb))
}

/// An (r, s) pair, both in [1, n-1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    r: Scalar,
    s: Scalar,
}

#[derive(Sequence)]
struct DerSig<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

impl Signature {
    fn from_scalar_bytes(r: &[u8; 32], s: &[u8; 32]) -> Option<Self> {
        let r = Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(*r)))?;
        let s = Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(*s)))?;
        if bool::from(r.is_zero()) || bool::from(s.is_zero()) {
            return None;
        }
        Some(Self { r, s })
    }

    /// Parse raw r || s (64 bytes). None when r or s is 0 or >= n.
    pub fn from_raw(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 2 * FIELD_LEN {
            return None;
        }
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Self::from_scalar_bytes(&r, &s)
    }

    /// Parse strict DER: no trailing bytes, minimal INTEGERs, non-negative, r and s in [1, n-1].
    pub fn from_der(bytes: &[u8]) -> Option<Self> {
        let d = DerSig::from_der(bytes).ok()?;
        let r = pad32(d.r.as_bytes())?;
        let s = pad32(d.s.as_bytes())?;
        Self::from_scalar_bytes(&r, &s)
    }

    /// Parse in the given format.
    pub fn decode(bytes: &[u8], fmt: SigFormat) -> Option<Self> {
        match fmt {
            SigFormat::Der => Self::from_der(bytes),
            SigFormat::Raw => Self::from_raw(bytes),
        }
    }

    /// Raw r || s.
    pub fn to_raw(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.r.to_repr());
        out[32..].copy_from_slice(&self.s.to_repr());
        out
    }

    /// DER `SEQUENCE { r, s }`.
    pub fn to_der(&self) -> Vec<u8> {
        let r = self.r.to_repr();
        let s = self.s.to_repr();
        // UintRef strips leading zeros and adds the sign pad itself.
        let d = DerSig {
            r: UintRef::new(&r).expect("32-byte integer"),
            s: UintRef::new(&s).expect("32-byte integer"),
        };
        d.to_der().expect("DER encoding of two 32-byte integers")
    }

    /// Encode in the given format.
    pub fn encode(&self, fmt: SigFormat) -> Vec<u8> {
        match fmt {
            SigFormat::Der => self.to_der(),
            SigFormat::Raw => self.to_raw().to_vec(),
        }
    }
}

/// Core of GB/T 32918.2 clause 6.1 steps A3-A6 with a given nonce.
/// Returns None when k must be redrawn (r = 0, r + k = n, s = 0).
#[cfg(test)]
fn sign_with_k(key: &PrivateKey, e: &Scalar, k: &Scalar) -> Option<Signature> {
    sign_with_k_on(key, e, k, Backend::current())
}

/// [`sign_with_k`] on a chosen scalar-multiplication backend (differential tests).
fn sign_with_k_on(key: &PrivateKey, e: &Scalar, k: &Scalar, backend: Backend) -> Option<Signature> {
    sign_with_x1(key, e, k, &base_mul(k, backend).x)
}

/// Steps A5-A6 from a nonce k whose x1 = x([k]G) is known (big-endian).
fn sign_with_x1(key: &PrivateKey, e: &Scalar, k: &Scalar, x1: &[u8; 32]) -> Option<Signature> {
    let r = *e + <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*x1));
    if bool::from(r.is_zero()) || bool::from((r + k).is_zero()) {
        return None;
    }
    let s = *key.d1_inv() * (*k - r * key.scalar());
    if bool::from(s.is_zero()) {
        return None;
    }
    Some(Signature { r, s })
}

/// Sign a precomputed digest e = SM3(Z || M) with a fresh CSPRNG nonce. On the fast backend the
/// nonce and its x1 come from the key's pool ([`super::keys::NoncePool`]); the forced-portable
/// backend draws k and computes [k]G per signature.
pub fn sign_digest(key: &PrivateKey, e: &[u8]) -> Result<Signature> {
    let e = e_scalar(e)?;
    let backend = Backend::current();
    loop {
        let sig = if backend == Backend::Fast {
            let (mut k, mut x1) = key.nonces().take()?;
            let sig = sign_with_x1(key, &e, &k, &x1);
            k.zeroize();
            x1.zeroize();
            sig
        } else {
            let mut k = super::random_nonzero_scalar()?;
            let sig = sign_with_k_on(key, &e, &k, backend);
            k.zeroize();
            sig
        };
        if let Some(sig) = sig {
            return Ok(sig);
        }
    }
}

/// Sign message `msg` with distinguishing ID `id` (GB/T 32918.2, 6.1). Z_A for the default ID
/// comes from the key (computed once when the key was built).
pub fn sign(key: &PrivateKey, msg: &[u8], id: &[u8]) -> Result<Signature> {
    let z = key.z(id)?;
    sign_digest(key, &compute_e(&z, msg))
}

/// Verify over a digest e (GB/T 32918.2, 7.1 B5-B7). Public data only: variable time.
pub fn verify_digest(public: &PublicKey, e: &[u8], sig: &Signature) -> Result<bool> {
    let e = e_scalar(e)?;
    let t = sig.r + sig.s;
    if bool::from(t.is_zero()) {
        return Ok(false);
    }
    Ok(super::vartime::verify_equation(
        &e, &sig.r, &sig.s, &t, public,
    ))
}

/// Verify a signature over message `msg` with distinguishing ID `id` (GB/T 32918.2, 7.1).
pub fn verify(public: &PublicKey, msg: &[u8], id: &[u8], sig: &Signature) -> Result<bool> {
    let z = compute_z(public, id)?;
    verify_digest(public, &compute_e(&z, msg), sig)
}

/// Verify encoded signature bytes; a malformed signature is simply `false`.
pub fn verify_encoded(
    public: &PublicKey,
    msg: &[u8],
    id: &[u8],
    sig: &[u8],
    fmt: SigFormat,
) -> Result<bool> {
    match Signature::decode(sig, fmt) {
        Some(s) => verify(public, msg, id, &s),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::{parse_point, PrivateKey};
    use super::super::testvec;
    use super::*;
    use ::sm2::elliptic_curve::point::AffineCoordinates;
    use ::sm2::elliptic_curve::Group;
    use ::sm2::ProjectivePoint;

    fn vec_case() -> serde_json::Value {
        testvec::case(&testvec::load(), "gbt32918.5-annexA-sign")
    }

    #[test]
    fn curve_constants_match_vector_file_and_crate() {
        let v = testvec::load();
        let cv = &v["curve"];
        for (name, val) in [("a", A), ("b", B), ("gx", GX), ("gy", GY)] {
            assert_eq!(
                hex::decode(cv[name].as_str().unwrap()).unwrap(),
                val,
                "{name}"
            );
        }
        let g = ProjectivePoint::generator().to_affine();
        assert_eq!(g.x().to_vec(), GX.to_vec());
    }

    #[test]
    fn annex_a_z_e() {
        let c = vec_case();
        let pubk = parse_point(&testvec::hexf(&c, "public_key_sec1_uncompressed")).unwrap();
        let z = compute_z(&pubk, &testvec::hexf(&c, "uid")).unwrap();
        assert_eq!(z.to_vec(), testvec::hexf(&c, "za"));
        let e = compute_e(&z, &testvec::hexf(&c, "msg"));
        assert_eq!(e.to_vec(), testvec::hexf(&c, "e"));
    }

    #[test]
    fn annex_a_fixed_k_reproduces_signature() {
        let c = vec_case();
        let key = PrivateKey::from_bytes(&testvec::hexf(&c, "d")).unwrap();
        let e = e_scalar(&testvec::hexf(&c, "e")).unwrap();
        let mut kb = FieldBytes::default();
        kb.copy_from_slice(&testvec::hexf(&c, "k"));
        let k = Scalar::from_repr(kb).unwrap();
        let sig = sign_with_k(&key, &e, &k).unwrap();
        assert_eq!(
            sig.to_raw().to_vec(),
            testvec::hexf(&c, "signature_raw_r_s")
        );
        assert_eq!(sig.to_der(), testvec::hexf(&c, "signature_der"));
        // Both scalar-multiplication backends reproduce the annex.
        for backend in [Backend::Fast, Backend::Crate] {
            let sig = sign_with_k_on(&key, &e, &k, backend).unwrap();
            assert_eq!(
                sig.to_raw().to_vec(),
                testvec::hexf(&c, "signature_raw_r_s"),
                "{backend:?}"
            );
        }
    }

    #[test]
    fn backends_sign_identically() {
        let key = PrivateKey::generate().unwrap();
        for i in 0..500u64 {
            let e = Scalar::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) + 1);
            let k = if i < 3 {
                [Scalar::ONE, Scalar::from(6u64), -Scalar::from(6u64)][i as usize]
            } else {
                super::super::random_nonzero_scalar().unwrap()
            };
            let a = sign_with_k_on(&key, &e, &k, Backend::Fast).map(|s| s.to_raw());
            let b = sign_with_k_on(&key, &e, &k, Backend::Crate).map(|s| s.to_raw());
            assert_eq!(a, b);
            if let Some(sig) = sign_with_k_on(&key, &e, &k, Backend::Fast) {
                assert!(verify_digest(key.public(), &e.to_repr(), &sig).unwrap());
            }
        }
    }

    #[test]
    fn pooled_nonces_sign_validly_and_never_repeat() {
        let key = PrivateKey::generate().unwrap();
        let e = compute_e(&key.z(DEFAULT_ID).unwrap(), b"m");
        let mut rs = std::collections::HashSet::new();
        // Three refills; every r distinct (a repeated nonce would repeat r for one e).
        for _ in 0..3 * super::super::keys::NoncePool::BATCH {
            let sig = sign_digest(&key, &e).unwrap();
            assert!(verify_digest(key.public(), &e, &sig).unwrap());
            assert!(rs.insert(sig.to_raw()[..32].to_vec()));
        }
        // A pooled pair is the x-coordinate of its own [k]G.
        let (k, x1) = key.nonces().take().unwrap();
        assert_eq!(x1, base_mul(&k, Backend::Crate).x);
    }

    #[test]
    fn cached_default_z_equals_computed() {
        let key = PrivateKey::generate().unwrap();
        let want = compute_z_bytes(key.public_bytes(), DEFAULT_ID).unwrap();
        assert_eq!(key.z(DEFAULT_ID).unwrap(), want);
        assert_eq!(
            key.z(b"other id").unwrap(),
            compute_z_bytes(key.public_bytes(), b"other id").unwrap()
        );
        assert_ne!(key.z(b"other id").unwrap(), want);
        // Signatures made through the cache verify against the recomputed Z.
        let sig = sign(&key, b"msg", DEFAULT_ID).unwrap();
        assert!(verify(key.public(), b"msg", DEFAULT_ID, &sig).unwrap());
        assert!(!verify(key.public(), b"msg", b"other id", &sig).unwrap());
    }

    #[test]
    fn annex_a_verifies_der_and_raw() {
        let c = vec_case();
        let pubk = parse_point(&testvec::hexf(&c, "public_key_sec1_uncompressed")).unwrap();
        let msg = testvec::hexf(&c, "msg");
        let id = testvec::hexf(&c, "uid");
        let der = testvec::hexf(&c, "signature_der");
        let raw = testvec::hexf(&c, "signature_raw_r_s");
        assert!(verify_encoded(&pubk, &msg, &id, &der, SigFormat::Der).unwrap());
        assert!(verify_encoded(&pubk, &msg, &id, &raw, SigFormat::Raw).unwrap());
        assert!(!verify_encoded(&pubk, b"message digesT", &id, &der, SigFormat::Der).unwrap());
        assert!(!verify_encoded(&pubk, &msg, b"", &der, SigFormat::Der).unwrap());
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(!verify_encoded(&pubk, &msg, &id, &trailing, SigFormat::Der).unwrap());
        assert!(!verify_encoded(&pubk, &msg, &id, &der[..der.len() - 1], SigFormat::Der).unwrap());
        assert!(!verify_encoded(&pubk, &msg, &id, &der, SigFormat::Raw).unwrap());
    }

    #[test]
    fn random_sign_verify() {
        for i in 0..50u8 {
            let key = PrivateKey::generate().unwrap();
            let msg = vec![i; i as usize];
            let sig = sign(&key, &msg, DEFAULT_ID).unwrap();
            let pubk = *key.public();
            assert!(verify(&pubk, &msg, DEFAULT_ID, &sig).unwrap());
            assert!(!verify(&pubk, &msg, b"other", &sig).unwrap());
            let der = sig.to_der();
            assert_eq!(Signature::from_der(&der), Some(sig));
            assert_eq!(Signature::from_raw(&sig.to_raw()), Some(sig));
        }
    }

    #[test]
    fn rejects_out_of_range_and_non_minimal() {
        let n = hex::decode(testvec::load()["curve"]["n"].as_str().unwrap()).unwrap();
        let mut raw = [1u8; 64];
        raw[..32].copy_from_slice(&n);
        assert!(Signature::from_raw(&raw).is_none());
        let mut raw0 = [1u8; 64];
        raw0[32..].fill(0);
        assert!(Signature::from_raw(&raw0).is_none());
        // Non-minimal INTEGER (leading 00 before a byte < 0x80).
        assert!(
            Signature::from_der(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]).is_none()
        );
        // Negative INTEGER.
        assert!(Signature::from_der(&[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]).is_none());
        // Small valid encoding parses and re-encodes minimally (leading zero bytes stripped).
        let small = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x7f];
        assert_eq!(
            Signature::from_der(&small).unwrap().to_der(),
            small.to_vec()
        );
        let mut raw = [0u8; 64];
        raw[31] = 0x80;
        raw[63] = 0x01;
        let der = Signature::from_raw(&raw).unwrap().to_der();
        assert_eq!(
            der,
            vec![0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01]
        );
    }
}
