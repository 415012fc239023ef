//! Batch entry points: one call, rayon across cores, one result per item.

use super::dsa::{self, SigFormat, Signature};
use super::keys::{parse_point, PrivateKey};
use super::pke::{self, CipherFormat};
use super::{DecryptFailure, Sm2Error};
use rayon::prelude::*;
use zeroize::Zeroizing;

/// One signature to check. `data` is the message, or the digest e when `prehashed`.
#[derive(Clone, Copy)]
pub struct VerifyItem<'a> {
    /// SEC1 public point.
    pub public: &'a [u8],
    /// Message (or e).
    pub data: &'a [u8],
    /// Encoded signature.
    pub sig: &'a [u8],
    /// Distinguishing ID (ignored when prehashed).
    pub id: &'a [u8],
}

fn verify_one(item: &VerifyItem<'_>, fmt: SigFormat, prehashed: bool) -> bool {
    let Ok(public) = parse_point(item.public) else {
        return false;
    };
    let Some(sig) = Signature::decode(item.sig, fmt) else {
        return false;
    };
    let r = if prehashed {
        dsa::verify_digest(&public, item.data, &sig)
    } else {
        dsa::verify(&public, item.data, item.id, &sig)
    };
    r.unwrap_or(false)
}

/// Verify many signatures in parallel. An invalid key, signature or ID makes that item false.
pub fn verify_many(items: &[VerifyItem<'_>], fmt: SigFormat, prehashed: bool) -> Vec<bool> {
    items
        .par_iter()
        .map(|it| verify_one(it, fmt, prehashed))
        .collect()
}

/// Decrypt many ciphertexts with one key in parallel (e.g. unwrap SM4 content keys).
pub fn decrypt_many(
    key: &PrivateKey,
    cts: &[&[u8]],
    fmt: CipherFormat,
) -> Vec<Result<Zeroizing<Vec<u8>>, DecryptFailure>> {
    cts.par_iter()
        .map(|ct| match pke::decrypt(key, ct, fmt) {
            Ok(m) => Ok(m),
            Err(Sm2Error::Decrypt(r)) => Err(r),
            Err(_) => Err(DecryptFailure::Malformed),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_results_per_item() {
        let key = PrivateKey::generate().unwrap();
        let msgs: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| dsa::sign(&key, m, dsa::DEFAULT_ID).unwrap().to_der())
            .collect();
        sigs[9].push(0);
        let mut items: Vec<VerifyItem<'_>> = msgs
            .iter()
            .zip(sigs.iter())
            .map(|(m, s)| VerifyItem {
                public: key.public_bytes(),
                data: m,
                sig: s,
                id: dsa::DEFAULT_ID,
            })
            .collect();
        items[3].data = b"other";
        items[7].public = &[4, 1, 2];
        let res = verify_many(&items, SigFormat::Der, false);
        for (i, ok) in res.iter().enumerate() {
            assert_eq!(*ok, ![3, 7, 9].contains(&i), "item {i}");
        }
        let mut cts: Vec<Vec<u8>> = (0..10u8)
            .map(|i| pke::encrypt(key.public(), &[i; 16], CipherFormat::Der).unwrap())
            .collect();
        cts[2][40] ^= 1;
        cts[5] = vec![0x30];
        let refs: Vec<&[u8]> = cts.iter().map(Vec::as_slice).collect();
        let out = decrypt_many(&key, &refs, CipherFormat::Der);
        for (i, r) in out.iter().enumerate() {
            match i {
                2 | 5 => assert!(r.is_err()),
                _ => assert_eq!(r.as_ref().unwrap().to_vec(), vec![i as u8; 16]),
            }
        }
    }
}
