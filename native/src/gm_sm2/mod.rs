//! SM2 (GB/T 32918): our own constant-time curve arithmetic, with the RustCrypto `sm2` crate's as
//! the reference and the portable fallback.
//!
//! * `field`: GF(p) for the SM2 prime (Montgomery form, the reduction specialised to p's shape,
//!   constant-time throughout, Fermat inversion along a fixed addition chain).
//! * `point`: constant-time [k]P (signed 5-bit regular windows, masked table scans, a = -3 Jacobian
//!   formulas, exceptional cases proven absent or handled by a masked select) and [k]G (816-point
//!   precomputed table, no doublings); `Backend` picks this code or the crate's
//!   (`BIDKERNEL_FORCE_PORTABLE=1` forces the crate's) behind `base_mul`, `point_mul` and
//!   `base_and_point_mul`, which sign, encrypt and decrypt call.
//!
//! The protocol layers are ours, so that the distinguishing ID can be any byte string, the
//! ciphertext formats of GM/T 0009 and the raw legacy layouts are all handled, and every rejection
//! rule of GB/T 32918 is explicit:
//!
//! * [`keys`]: key generation from the OS CSPRNG, PKCS#8 / SEC1 / SPKI (PEM and DER), validation
//!   (the crate's point decoding and scalar type).
//! * [`dsa`]: Z (part 2, 5.5), signature generation and verification (part 2, 6 and 7).
//! * [`pke`]: public-key encryption and decryption (part 4, 6 and 7), KDF (part 4, 5.4.3).
//! * [`batch`]: many verifications or decryptions in one call, spread over cores with rayon.
//! * `vartime`: the variable-time [s]G + [t]P of verification (public inputs only), Jacobian
//!   coordinates over our field, cross-checked against the crate's own formulas.

pub mod batch;
pub mod dsa;
mod field;
pub mod keys;
pub mod msm;
pub mod pke;
mod point;
mod vartime;

use ::sm2::elliptic_curve::ff::PrimeField;
use ::sm2::{FieldBytes, Scalar};
use zeroize::Zeroize;

/// Errors of the SM2 layer. None of them carries key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sm2Error {
    /// A key (private scalar, public point, PKCS#8/SEC1/SPKI document) is malformed or invalid.
    InvalidKey(&'static str),
    /// A caller-supplied parameter is unusable (ID too long, unknown format, empty plaintext ...).
    InvalidInput(&'static str),
    /// Decryption failed; the reason is coarse on purpose (no oracle).
    Decrypt(DecryptFailure),
    /// The operating system's random number generator failed.
    Rng,
}

/// Coarse cause of a failed decryption, usable as evidence (e.g. bid opening records).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptFailure {
    /// The ciphertext cannot be parsed: bad DER or length, C1 not a valid curve point.
    Malformed,
    /// The ciphertext parses but fails the integrity check (C3 mismatch, all-zero KDF output).
    Integrity,
}

impl DecryptFailure {
    /// Stable reason code exposed to Python.
    pub fn code(self) -> &'static str {
        match self {
            DecryptFailure::Malformed => "malformed",
            DecryptFailure::Integrity => "integrity",
        }
    }
}

impl core::fmt::Display for Sm2Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Sm2Error::InvalidKey(m) => write!(f, "invalid SM2 key: {m}"),
            Sm2Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Sm2Error::Decrypt(r) => write!(f, "SM2 decryption failed ({})", r.code()),
            Sm2Error::Rng => write!(f, "the operating system random number generator failed"),
        }
    }
}

impl std::error::Error for Sm2Error {}

/// Result alias of this module.
pub type Result<T> = core::result::Result<T, Sm2Error>;

/// Length of a field element / scalar in bytes.
pub const FIELD_LEN: usize = 32;
/// Length of an uncompressed SEC1 point `04 || x || y`.
pub const POINT_LEN: usize = 65;
/// Longest distinguishing ID: ENTL is a 16-bit count of bits (GB/T 32918.2, 5.5).
pub const MAX_ID_LEN: usize = 8191;

/// Draw a uniformly random scalar in [1, n-1] from the OS CSPRNG (rejection sampling).
pub(crate) fn random_nonzero_scalar() -> Result<Scalar> {
    loop {
        let mut buf = [0u8; FIELD_LEN];
        getrandom::fill(&mut buf).map_err(|_| Sm2Error::Rng)?;
        let candidate = Scalar::from_repr(FieldBytes::from(buf));
        buf.zeroize();
        if let Some(k) = Option::<Scalar>::from(candidate) {
            if !bool::from(k.is_zero()) {
                return Ok(k);
            }
        }
    }
}

/// `n` uniformly random scalars in [1, n-1] from one OS CSPRNG call of n·32 bytes (the nonce
/// pool's refill; one syscall instead of one per scalar). A 32-byte draw is rejected when it is
/// ≥ n or zero (probability about 2^-32 each) and replaced by a fresh single draw.
pub(crate) fn random_nonzero_scalars(count: usize) -> Result<Vec<Scalar>> {
    let mut buf = vec![0u8; count * FIELD_LEN];
    getrandom::fill(&mut buf).map_err(|_| Sm2Error::Rng)?;
    let mut out = Vec::with_capacity(count);
    for chunk in buf.chunks_exact(FIELD_LEN) {
        let mut bytes = [0u8; FIELD_LEN];
        bytes.copy_from_slice(chunk);
        let candidate = Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(bytes)));
        bytes.zeroize();
        match candidate {
            Some(k) if !bool::from(k.is_zero()) => out.push(k),
            _ => out.push(random_nonzero_scalar()?),
        }
    }
    buf.zeroize();
    Ok(out)
}

/// Left-pad a big-endian unsigned integer (already stripped of sign padding) to 32 bytes.
pub(crate) fn pad32(bytes: &[u8]) -> Option<[u8; FIELD_LEN]> {
    if bytes.len() > FIELD_LEN {
        return None;
    }
    let mut out = [0u8; FIELD_LEN];
    out[FIELD_LEN - bytes.len()..].copy_from_slice(bytes);
    Some(out)
}

#[cfg(test)]
pub(crate) mod testvec {
    //! Access to ../shared/vectors/sm2_gbt32918.json (read, never copied into code).
    use serde_json::Value;

    /// ../shared/vectors beside the checkout, or $BIDKERNEL_VECTORS (as tests/conftest.py).
    pub fn load() -> Value {
        crate::simd::sm4_tests::vectors("sm2_gbt32918.json")
    }

    pub fn case(v: &Value, id: &str) -> Value {
        v["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .find(|c| c["id"] == id)
            .expect("case present")
            .clone()
    }

    pub fn hexf(c: &Value, field: &str) -> Vec<u8> {
        hex::decode(c[field].as_str().expect("hex field")).expect("hex")
    }
}

#[cfg(test)]
mod negative_vectors {
    //! tests/vectors/sm2_negative.json (generated by tests/vectors/gen_sm2_negative.py): 0 false accepts.
    use super::dsa::{verify_encoded, SigFormat};
    use super::keys::{parse_point, PrivateKey};
    use super::pke::{decrypt, CipherFormat};
    use super::{DecryptFailure, Sm2Error};
    use serde_json::Value;

    fn load() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/sm2_negative.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("negative vector file"))
            .expect("JSON")
    }

    fn h(c: &Value, f: &str) -> Vec<u8> {
        hex::decode(c[f].as_str().expect("field")).expect("hex")
    }

    #[test]
    fn signature_cases() {
        let v = load();
        let cases = v["signature_cases"].as_array().expect("cases");
        assert!(cases.len() >= 30);
        for c in cases {
            let public = parse_point(&h(c, "public_key")).expect("valid point in every case");
            let fmt = SigFormat::parse(c["fmt"].as_str().expect("fmt")).expect("format");
            let ok = verify_encoded(&public, &h(c, "msg"), &h(c, "id"), &h(c, "sig"), fmt)
                .expect("verify");
            assert_eq!(ok, c["expect"] == "valid", "{}", c["name"]);
        }
    }

    #[test]
    fn decryption_cases() {
        let v = load();
        let cases = v["decryption_cases"].as_array().expect("cases");
        assert!(cases.len() >= 25);
        for c in cases {
            let key = PrivateKey::from_bytes(&h(c, "d")).expect("key");
            let fmt = CipherFormat::parse(c["fmt"].as_str().expect("fmt")).expect("format");
            let res = decrypt(&key, &h(c, "ct"), fmt);
            if c["expect"] == "valid" {
                assert_eq!(
                    res.expect("decrypts").to_vec(),
                    h(c, "msg"),
                    "{}",
                    c["name"]
                );
            } else {
                let want = match c["reason"].as_str().expect("reason") {
                    "malformed" => DecryptFailure::Malformed,
                    _ => DecryptFailure::Integrity,
                };
                assert_eq!(
                    res.expect_err("must fail"),
                    Sm2Error::Decrypt(want),
                    "{}",
                    c["name"]
                );
            }
        }
    }
}
