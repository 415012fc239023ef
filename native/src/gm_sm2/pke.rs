//! SM2 public-key encryption (GB/T 32918.4).
//!
//! Encryption (clause 6.1): k uniform in [1, n-1] from the OS CSPRNG; C1 = [k]G;
//! (x2, y2) = [k]P_B; t = KDF(x2 || y2, klen), redrawn k if t is all zero;
//! C2 = M xor t; C3 = SM3(x2 || M || y2).
//! Decryption (clause 7.1): C1 must be a curve point other than infinity (h = 1);
//! (x2, y2) = [d]C1; t = KDF(...) must not be all zero; M' = C2 xor t; C3 compared in constant time.
//!
//! Encodings: GM/T 0009-2012 clause 7.2 `SM2Cipher ::= SEQUENCE { XCoordinate INTEGER,
//! YCoordinate INTEGER, HASH OCTET STRING (32), CipherText OCTET STRING }` (default), and the raw
//! layouts `04 || x || y || C3 || C2` (C1C3C2) and `04 || x || y || C2 || C3` (C1C2C3).

use super::keys::PrivateKey;
use super::point::{base_and_point_mul, point_mul, Backend};
use super::{pad32, DecryptFailure, Result, Sm2Error, FIELD_LEN, POINT_LEN};
use ::sm2::elliptic_curve::point::AffineCoordinates;
use ::sm2::elliptic_curve::sec1::ToSec1Point;
use ::sm2::{AffinePoint, FieldBytes, PublicKey, Scalar};
use der::asn1::{OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};
use sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Ciphertext encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherFormat {
    /// GM/T 0009 `SM2Cipher` DER (C1, C3, C2).
    Der,
    /// Raw `04 || C1 || C3 || C2`.
    C1C3C2,
    /// Raw `04 || C1 || C2 || C3` (GB/T 32918.4 as printed; legacy clients).
    C1C2C3,
}

impl CipherFormat {
    /// Parse "der" / "c1c3c2" / "c1c2c3".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "der" => Ok(CipherFormat::Der),
            "c1c3c2" => Ok(CipherFormat::C1C3C2),
            "c1c2c3" => Ok(CipherFormat::C1C2C3),
            _ => Err(Sm2Error::InvalidInput(
                "ciphertext format must be 'der', 'c1c3c2' or 'c1c2c3'",
            )),
        }
    }
}

const HASH_LEN: usize = 32;

#[derive(Sequence)]
struct Sm2Cipher<'a> {
    x: UintRef<'a>,
    y: UintRef<'a>,
    hash: &'a OctetStringRef,
    ciphertext: &'a OctetStringRef,
}

/// KDF of GB/T 32918.4 clause 5.4.3 with SM3, XORed into `data` in place.
/// Returns true when the key stream t was all zero (the caller must reject / redraw).
fn kdf_xor(x2: &[u8], y2: &[u8], data: &mut [u8]) -> bool {
    let mut base = Sm3::new();
    base.update(x2);
    base.update(y2);
    let mut acc = 0u8;
    for (i, chunk) in data.chunks_mut(HASH_LEN).enumerate() {
        // ct starts at 1; the plaintext length is far below 2^32 blocks.
        let ct = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut h = base.clone();
        h.update(ct.to_be_bytes());
        let mut block: [u8; HASH_LEN] = h.finalize().into();
        for (d, t) in chunk.iter_mut().zip(block.iter()) {
            acc |= *t;
            *d ^= *t;
        }
        block.zeroize();
    }
    acc == 0
}

fn c3_hash(x2: &[u8], msg: &[u8], y2: &[u8]) -> [u8; HASH_LEN] {
    let mut h = Sm3::new();
    h.update(x2);
    h.update(msg);
    h.update(y2);
    h.finalize().into()
}

/// Parts of a ciphertext.
struct Parts {
    c1x: [u8; FIELD_LEN],
    c1y: [u8; FIELD_LEN],
    c3: [u8; HASH_LEN],
    c2: Vec<u8>,
}

impl Parts {
    fn encode(&self, fmt: CipherFormat) -> Vec<u8> {
        match fmt {
            CipherFormat::Der => Sm2Cipher {
                x: UintRef::new(&self.c1x).expect("32-byte integer"),
                y: UintRef::new(&self.c1y).expect("32-byte integer"),
                hash: OctetStringRef::new(&self.c3).expect("32-byte octet string"),
                ciphertext: OctetStringRef::new(&self.c2).expect("octet string"),
            }
            .to_der()
            .expect("SM2Cipher encoding"),
            CipherFormat::C1C3C2 | CipherFormat::C1C2C3 => {
                let mut out = Vec::with_capacity(POINT_LEN + HASH_LEN + self.c2.len());
                out.push(0x04);
                out.extend_from_slice(&self.c1x);
                out.extend_from_slice(&self.c1y);
                if fmt == CipherFormat::C1C3C2 {
                    out.extend_from_slice(&self.c3);
                    out.extend_from_slice(&self.c2);
                } else {
                    out.extend_from_slice(&self.c2);
                    out.extend_from_slice(&self.c3);
                }
                out
            }
        }
    }

    fn decode(ct: &[u8], fmt: CipherFormat) -> Option<Self> {
        match fmt {
            CipherFormat::Der => {
                let c = Sm2Cipher::from_der(ct).ok()?;
                let c3 = c.hash.as_bytes();
                if c3.len() != HASH_LEN || c.ciphertext.as_bytes().is_empty() {
                    return None;
                }
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c3);
                Some(Parts {
                    c1x: pad32(c.x.as_bytes())?,
                    c1y: pad32(c.y.as_bytes())?,
                    c3: h,
                    c2: c.ciphertext.as_bytes().to_vec(),
                })
            }
            CipherFormat::C1C3C2 | CipherFormat::C1C2C3 => {
                if ct.len() <= POINT_LEN + HASH_LEN || ct[0] != 0x04 {
                    return None;
                }
                let mut c1x = [0u8; FIELD_LEN];
                let mut c1y = [0u8; FIELD_LEN];
                c1x.copy_from_slice(&ct[1..33]);
                c1y.copy_from_slice(&ct[33..65]);
                let rest = &ct[POINT_LEN..];
                let (c3, c2) = if fmt == CipherFormat::C1C3C2 {
                    (&rest[..HASH_LEN], &rest[HASH_LEN..])
                } else {
                    let split = rest.len() - HASH_LEN;
                    (&rest[split..], &rest[..split])
                };
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c3);
                Some(Parts {
                    c1x,
                    c1y,
                    c3: h,
                    c2: c2.to_vec(),
                })
            }
        }
    }
}

/// Encryption core with a given nonce; None when t is all zero (k must be redrawn).
fn encrypt_with_k(public: &PublicKey, msg: &[u8], k: &Scalar) -> Option<Parts> {
    encrypt_with_k_on(public, msg, k, Backend::current())
}

/// [`encrypt_with_k`] on a chosen scalar-multiplication backend (differential tests).
fn encrypt_with_k_on(
    public: &PublicKey,
    msg: &[u8],
    k: &Scalar,
    backend: Backend,
) -> Option<Parts> {
    // One field inversion for both points (Montgomery's trick), constant time.
    let (c1, shared) = base_and_point_mul(public.as_affine(), k, backend);
    let mut c2 = msg.to_vec();
    let zero = kdf_xor(&shared.x, &shared.y, &mut c2);
    let c3 = c3_hash(&shared.x, msg, &shared.y);
    drop(shared); // wipes (x2, y2)
    if zero {
        return None;
    }
    Some(Parts {
        c1x: c1.x,
        c1y: c1.y,
        c3,
        c2,
    })
}

/// Encrypt `msg` to `public` (GB/T 32918.4, 6.1). `msg` must not be empty.
pub fn encrypt(public: &PublicKey, msg: &[u8], fmt: CipherFormat) -> Result<Vec<u8>> {
    if msg.is_empty() {
        return Err(Sm2Error::InvalidInput(
            "SM2 cannot encrypt an empty message",
        ));
    }
    loop {
        let mut k = super::random_nonzero_scalar()?;
        let parts = encrypt_with_k(public, msg, &k);
        k.zeroize();
        if let Some(p) = parts {
            return Ok(p.encode(fmt));
        }
    }
}

/// Decrypt (GB/T 32918.4, 7.1). Every failure is `Sm2Error::Decrypt` with a coarse reason.
pub fn decrypt(key: &PrivateKey, ct: &[u8], fmt: CipherFormat) -> Result<Zeroizing<Vec<u8>>> {
    decrypt_on(key, ct, fmt, Backend::current())
}

/// [`decrypt`] on a chosen scalar-multiplication backend (differential tests).
fn decrypt_on(
    key: &PrivateKey,
    ct: &[u8],
    fmt: CipherFormat,
    backend: Backend,
) -> Result<Zeroizing<Vec<u8>>> {
    decrypt_keeping_point(key, ct, fmt, backend).map(|(m, _point)| m)
}

/// GB/T 32918.4 §7.1 B1-B7: the plaintext, and the shared point x2 || y2 it was opened with.
fn decrypt_keeping_point(
    key: &PrivateKey,
    ct: &[u8],
    fmt: CipherFormat,
    backend: Backend,
) -> Result<(Zeroizing<Vec<u8>>, SharedPoint)> {
    let malformed = Sm2Error::Decrypt(DecryptFailure::Malformed);
    let parts = Parts::decode(ct, fmt).ok_or(malformed)?;
    // B1: C1 on the curve; coordinates below p; never infinity (no affine encoding of it).
    let c1 = Option::<AffinePoint>::from(AffinePoint::from_coordinates(
        &FieldBytes::from(parts.c1x),
        &FieldBytes::from(parts.c1y),
    ))
    .ok_or(malformed)?;
    // B2: h = 1 for sm2p256v1, so [h]C1 = C1 is not infinity. B3: [d]C1, with d in [1, n-2] and
    // C1 of prime order n, is never infinity either.
    let shared = point_mul(&c1, key.scalar(), backend);
    let mut m = Zeroizing::new(parts.c2);
    let zero = kdf_xor(&shared.x, &shared.y, &mut m);
    let mut u = c3_hash(&shared.x, &m, &shared.y);
    let mut point = Zeroizing::new([0u8; 2 * FIELD_LEN]);
    point[..FIELD_LEN].copy_from_slice(&shared.x);
    point[FIELD_LEN..].copy_from_slice(&shared.y);
    drop(shared); // wipes (x2, y2)
    let ok = u.ct_eq(&parts.c3);
    u.zeroize();
    if zero || !bool::from(ok) {
        return Err(Sm2Error::Decrypt(DecryptFailure::Integrity));
    }
    Ok((m, point))
}

/// x2 || y2 of GB/T 32918.4, 7.1 B3 (wiped on drop).
pub type SharedPoint = Zeroizing<[u8; 2 * FIELD_LEN]>;

/// Decrypt and also return the shared point x2 || y2 = [d]C1 (GB/T 32918.4, 7.1 B3): a decryption
/// proof for this one ciphertext. With it anyone can check, without the key, that a plaintext is the
/// one C1C3C2 carries ([`check_plaintext`]); it discloses nothing beyond this ciphertext's plaintext
/// (a fresh C1 = [k]G per encryption, so [d]C1 = [k]P opens nothing else).
pub fn decrypt_with_point(
    key: &PrivateKey,
    ct: &[u8],
    fmt: CipherFormat,
) -> Result<(Zeroizing<Vec<u8>>, SharedPoint)> {
    decrypt_keeping_point(key, ct, fmt, Backend::current())
}

/// Does `point` (x2 || y2) open `ct` to `msg`? C2 = msg XOR KDF(x2 || y2) and C3 = SM3(x2 || msg || y2)
/// (GB/T 32918.4, 7.1 B4-B6), compared in constant time. A wrong `msg` would need an SM3 preimage to
/// pass. `Err` only for a malformed ciphertext or a point of the wrong length.
pub fn check_plaintext(ct: &[u8], fmt: CipherFormat, msg: &[u8], point: &[u8]) -> Result<bool> {
    let malformed = Sm2Error::Decrypt(DecryptFailure::Malformed);
    let parts = Parts::decode(ct, fmt).ok_or(malformed)?;
    if point.len() != 2 * FIELD_LEN {
        return Err(malformed);
    }
    if msg.len() != parts.c2.len() {
        return Ok(false);
    }
    let (x2, y2) = point.split_at(FIELD_LEN);
    let mut t = Zeroizing::new(parts.c2.clone());
    let zero = kdf_xor(x2, y2, &mut t); // C2 XOR t, which must equal msg
    let c2_ok = t.as_slice().ct_eq(msg);
    let c3_ok = c3_hash(x2, msg, y2).ct_eq(&parts.c3);
    Ok(!zero && bool::from(c2_ok & c3_ok))
}

/// Convert between ciphertext encodings without decrypting (checks C1 is on the curve).
pub fn convert(ct: &[u8], from: CipherFormat, to: CipherFormat) -> Result<Vec<u8>> {
    let malformed = Sm2Error::Decrypt(DecryptFailure::Malformed);
    let parts = Parts::decode(ct, from).ok_or(malformed)?;
    let p: Option<AffinePoint> =
        AffinePoint::from_coordinates(&FieldBytes::from(parts.c1x), &FieldBytes::from(parts.c1y))
            .into();
    let p = p.ok_or(malformed)?;
    debug_assert!(p.to_sec1_point(false).as_bytes().len() == POINT_LEN);
    Ok(parts.encode(to))
}

#[cfg(test)]
mod tests {
    use super::super::testvec;
    use super::*;
    use ::sm2::elliptic_curve::ff::PrimeField;

    fn vec_case() -> serde_json::Value {
        testvec::case(&testvec::load(), "gbt32918.5-annexC-encrypt")
    }

    fn vec_key(c: &serde_json::Value) -> PrivateKey {
        PrivateKey::from_bytes(&testvec::hexf(c, "d")).unwrap()
    }

    #[test]
    fn annex_c_fixed_k_reproduces_all_formats() {
        let c = vec_case();
        let key = vec_key(&c);
        let mut kb = FieldBytes::default();
        kb.copy_from_slice(&testvec::hexf(&c, "k"));
        let k = Scalar::from_repr(kb).unwrap();
        let parts = encrypt_with_k(key.public(), &testvec::hexf(&c, "msg"), &k).unwrap();
        assert_eq!(
            parts.encode(CipherFormat::Der),
            testvec::hexf(&c, "ciphertext_der")
        );
        assert_eq!(
            parts.encode(CipherFormat::C1C3C2),
            testvec::hexf(&c, "ciphertext_raw_c1c3c2")
        );
        assert_eq!(
            parts.encode(CipherFormat::C1C2C3),
            testvec::hexf(&c, "ciphertext_raw_c1c2c3")
        );
        for backend in [Backend::Fast, Backend::Crate] {
            let parts =
                encrypt_with_k_on(key.public(), &testvec::hexf(&c, "msg"), &k, backend).unwrap();
            assert_eq!(
                parts.encode(CipherFormat::Der),
                testvec::hexf(&c, "ciphertext_der"),
                "{backend:?}"
            );
        }
    }

    #[test]
    fn backends_agree_encrypt_and_decrypt() {
        let c = vec_case();
        let key = vec_key(&c);
        let ct = testvec::hexf(&c, "ciphertext_der");
        for backend in [Backend::Fast, Backend::Crate] {
            let m = decrypt_on(&key, &ct, CipherFormat::Der, backend).unwrap();
            assert_eq!(m.to_vec(), testvec::hexf(&c, "msg"), "{backend:?}");
        }
        let key = PrivateKey::generate().unwrap();
        for i in 0..300usize {
            let msg = vec![i as u8; 1 + i % 70];
            let k = super::super::random_nonzero_scalar().unwrap();
            let a = encrypt_with_k_on(key.public(), &msg, &k, Backend::Fast)
                .map(|p| p.encode(CipherFormat::C1C3C2));
            let b = encrypt_with_k_on(key.public(), &msg, &k, Backend::Crate)
                .map(|p| p.encode(CipherFormat::C1C3C2));
            assert_eq!(a, b);
            // A 1-byte message has an all-zero KDF output with probability 1/256; then both backends
            // refuse this k (GB/T 32918.4 §6.1 A5: pick a new k), which `encrypt` does.
            let Some(ct) = a else { continue };
            for backend in [Backend::Fast, Backend::Crate] {
                let m = decrypt_on(&key, &ct, CipherFormat::C1C3C2, backend).unwrap();
                assert_eq!(m.to_vec(), msg);
            }
        }
    }

    #[test]
    fn annex_c_decrypts_all_formats() {
        let c = vec_case();
        let key = vec_key(&c);
        let msg = testvec::hexf(&c, "msg");
        for (field, fmt) in [
            ("ciphertext_der", CipherFormat::Der),
            ("ciphertext_raw_c1c3c2", CipherFormat::C1C3C2),
            ("ciphertext_raw_c1c2c3", CipherFormat::C1C2C3),
        ] {
            let ct = testvec::hexf(&c, field);
            assert_eq!(decrypt(&key, &ct, fmt).unwrap().to_vec(), msg, "{field}");
            // Every single-bit flip is rejected.
            for i in 0..ct.len() {
                for bit in 0..8 {
                    let mut bad = ct.clone();
                    bad[i] ^= 1 << bit;
                    assert!(
                        decrypt(&key, &bad, fmt).is_err(),
                        "{field} byte {i} bit {bit}"
                    );
                }
            }
            let mut trailing = ct.clone();
            trailing.push(0);
            if fmt == CipherFormat::Der {
                assert!(decrypt(&key, &trailing, fmt).is_err());
            }
            assert!(decrypt(&key, &ct[..ct.len() - 1], fmt).is_err());
        }
    }

    #[test]
    fn random_roundtrip_and_reasons() {
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        for len in [1usize, 31, 32, 33, 64, 1000] {
            let msg = vec![0xa5u8; len];
            for fmt in [
                CipherFormat::Der,
                CipherFormat::C1C3C2,
                CipherFormat::C1C2C3,
            ] {
                let ct = encrypt(key.public(), &msg, fmt).unwrap();
                assert_eq!(decrypt(&key, &ct, fmt).unwrap().to_vec(), msg);
                assert_eq!(
                    decrypt(&other, &ct, fmt).unwrap_err(),
                    Sm2Error::Decrypt(DecryptFailure::Integrity)
                );
            }
        }
        assert!(encrypt(key.public(), b"", CipherFormat::Der).is_err());
        assert_eq!(
            decrypt(&key, b"\x30\x00", CipherFormat::Der).unwrap_err(),
            Sm2Error::Decrypt(DecryptFailure::Malformed)
        );
    }

    #[test]
    fn decryption_point_proves_the_plaintext_and_nothing_else() {
        let key = PrivateKey::generate().unwrap();
        for (i, len) in [1usize, 16, 31, 32, 33, 100].into_iter().enumerate() {
            let msg: Vec<u8> = (0..len).map(|j| (i * 31 + j * 7) as u8).collect();
            for fmt in [
                CipherFormat::Der,
                CipherFormat::C1C3C2,
                CipherFormat::C1C2C3,
            ] {
                let ct = encrypt(key.public(), &msg, fmt).unwrap();
                let (m, point) = decrypt_with_point(&key, &ct, fmt).unwrap();
                assert_eq!(m.as_slice(), msg.as_slice());
                assert!(check_plaintext(&ct, fmt, &msg, point.as_slice()).unwrap());
                let mut wrong = msg.clone();
                wrong[len - 1] ^= 1;
                assert!(!check_plaintext(&ct, fmt, &wrong, point.as_slice()).unwrap());
                let mut bad_point = *point;
                bad_point[5] ^= 0x40;
                assert!(!check_plaintext(&ct, fmt, &msg, &bad_point).unwrap());
                assert!(!check_plaintext(&ct, fmt, &msg[..len - 1], point.as_slice()).unwrap());
                assert!(check_plaintext(&ct, fmt, &msg, &point[..63]).is_err());
            }
        }
    }
}
