//! SM2 keys: generation, validation, PKCS#8 / SEC1 / SPKI in DER and PEM.
//!
//! Private keys are [`PrivateKey`]: the scalar d in [1, n-2] (GB/T 32918.1, 6.1), its public
//! point, and (1+d)^-1 mod n precomputed for signing (GB/T 32918.2, 6.1 A6). Secrets are
//! zeroized on drop. Public keys travel as SEC1 points (uncompressed `04||x||y`; compressed accepted).

use super::point::{base_mul, Backend};
use super::{Result, Sm2Error, FIELD_LEN, POINT_LEN};
use ::sm2::elliptic_curve::ff::PrimeField;
use ::sm2::elliptic_curve::sec1::ToSec1Point;
use ::sm2::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use ::sm2::{FieldBytes, NonZeroScalar, PublicKey, Scalar, SecretKey};
use sm3::{Digest, Sm3};
use zeroize::{Zeroize, Zeroizing};

/// An SM2 private key with its public point, precomputed (1+d)^-1 and Z_A for the default ID
/// (so that signing with the default ID hashes only e = SM3(Z_A || M), as a reused GmSSL or
/// OpenSSL signing context does).
pub struct PrivateKey {
    d: Scalar,
    d1_inv: Scalar,
    public: PublicKey,
    public_bytes: [u8; POINT_LEN],
    z_default: [u8; 32],
    nonces: std::sync::Mutex<NoncePool>,
}

/// Signing nonces drawn ahead, as a reused GmSSL signing context does
/// (`sm2_fast_sign_pre_compute`): pairs (k, x1 of [k]G) computed a batch at a time by
/// [`super::point::base_mul_x_batch`], whose additions share one inversion per window across the
/// batch, so a bigger batch is cheaper per nonce. The first refill of a key computes
/// [`NoncePool::FIRST`] pairs and each next one twice as many, up to [`NoncePool::BATCH`]: a key
/// that signs once pays for 32 nonces (about 0.25 ms), a busy one reaches the full batch after four
/// refills. Each pair is used once and wiped when taken. The pool remembers the process that
/// filled it and is emptied in any other (a fork must never sign twice with one nonce).
#[derive(Default)]
pub(crate) struct NoncePool {
    /// [`fork_generation`] when the pool was filled.
    generation: u64,
    /// Size of the last refill (0 before the first).
    last_batch: usize,
    items: Vec<(Scalar, [u8; 32])>,
}

/// A number that changes in every child process after a fork and is nonzero. On Linux it is the
/// count of forks seen by this process image (a `pthread_atfork` child handler, registered once,
/// bumps it), so a pool filled in the parent is never used in the child; reading it is one
/// atomic load instead of a `getpid` system call per signature. Elsewhere, or if the handler
/// could not be registered, it is the process id (with the top bit set, so the two kinds of
/// value never meet in one process).
fn fork_generation() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Once;
        static GENERATION: AtomicU64 = AtomicU64::new(1);
        static REGISTERED: AtomicBool = AtomicBool::new(false);
        static REGISTER: Once = Once::new();
        extern "C" fn child() {
            GENERATION.fetch_add(1, Ordering::SeqCst);
        }
        REGISTER.call_once(|| {
            // SAFETY: registers a handler that only touches an atomic (async-signal-safe).
            let rc = unsafe { libc::pthread_atfork(None, None, Some(child)) };
            REGISTERED.store(rc == 0, Ordering::SeqCst);
        });
        if REGISTERED.load(Ordering::Relaxed) {
            return GENERATION.load(Ordering::SeqCst);
        }
    }
    (1 << 63) | u64::from(std::process::id())
}

impl NoncePool {
    /// Pairs computed by a key's first refill.
    pub(crate) const FIRST: usize = 32;
    /// Most pairs computed per refill: 256 measured 1.25x GmSSL's signing rate where 32 gave
    /// 1.00x; 512 and 1,024 gained nothing the noise would show (docs/performance.md).
    pub(crate) const BATCH: usize = 256;

    fn clear(&mut self) {
        for (k, x) in self.items.iter_mut() {
            k.zeroize();
            x.zeroize();
        }
        self.items.clear();
    }

    /// The next unused (k, x1), refilling from the OS CSPRNG when empty or inherited by a fork.
    pub(crate) fn take(&mut self) -> Result<(Scalar, [u8; 32])> {
        let generation = fork_generation();
        if self.generation != generation {
            self.clear();
            self.generation = generation;
        }
        if self.items.is_empty() {
            let size = (self.last_batch * 2).clamp(Self::FIRST, Self::BATCH);
            let ks = super::random_nonzero_scalars(size)?;
            self.last_batch = size;
            let xs = super::point::base_mul_x_batch(&ks);
            self.items = ks.into_iter().zip(xs).collect();
        }
        let last = self.items.len() - 1;
        let pair = self.items[last];
        self.items[last].0.zeroize();
        self.items[last].1.zeroize();
        self.items.truncate(last);
        Ok(pair)
    }
}

impl Drop for NoncePool {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.d.zeroize();
        self.d1_inv.zeroize();
    }
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey(public_fingerprint={})", self.fingerprint())
    }
}

impl PrivateKey {
    /// Build a key from a scalar, checking d in [1, n-2] (d = n-1 makes 1+d non-invertible).
    pub fn from_scalar(d: Scalar) -> Result<Self> {
        if bool::from(d.is_zero()) {
            return Err(Sm2Error::InvalidKey("private scalar is zero"));
        }
        let d1_inv = Option::<Scalar>::from((d + Scalar::ONE).invert())
            .ok_or(Sm2Error::InvalidKey("private scalar is n-1"))?;
        let nz = Option::<NonZeroScalar>::from(NonZeroScalar::new(d))
            .ok_or(Sm2Error::InvalidKey("private scalar is zero"))?;
        let public = public_from_scalar(&nz, Backend::current())?;
        let public_bytes = encode_point(&public);
        let z_default = super::dsa::compute_z_bytes(&public_bytes, super::dsa::DEFAULT_ID)?;
        Ok(Self {
            d,
            d1_inv,
            public,
            public_bytes,
            z_default,
            nonces: Default::default(),
        })
    }

    /// Big-endian 32-byte scalar; must be < n.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != FIELD_LEN {
            return Err(Sm2Error::InvalidKey("private scalar must be 32 bytes"));
        }
        let mut fb = FieldBytes::default();
        fb.copy_from_slice(bytes);
        let d = Option::<Scalar>::from(Scalar::from_repr(fb));
        fb.zeroize();
        Self::from_scalar(d.ok_or(Sm2Error::InvalidKey("private scalar is not below n"))?)
    }

    /// Fresh key from the OS CSPRNG (GB/T 32918.1, 6.1): d uniform in [1, n-2].
    pub fn generate() -> Result<Self> {
        loop {
            let d = super::random_nonzero_scalar()?;
            match Self::from_scalar(d) {
                Ok(k) => return Ok(k),
                Err(Sm2Error::InvalidKey(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Load a private key from DER: PKCS#8 `PrivateKeyInfo` or SEC1 `ECPrivateKey`.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let sk = SecretKey::from_pkcs8_der(der)
            .or_else(|_| SecretKey::from_sec1_der(der))
            .map_err(|_| Sm2Error::InvalidKey("not an SM2 PKCS#8 or SEC1 private key"))?;
        Self::from_secret_key(&sk)
    }

    /// Load a private key from PEM text: `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` or
    /// `SM2 PRIVATE KEY` (SEC1, the latter as OpenSSL 3 labels it). A parameters block before
    /// the key, as `openssl ecparam -genkey` writes, is skipped.
    pub fn from_pem(text: &str) -> Result<Self> {
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(Sm2Error::InvalidKey(
                "encrypted PKCS#8 is not supported; decrypt it first (openssl pkcs8)",
            ));
        }
        if let Some(block) = pem_block(text, "PRIVATE KEY") {
            let sk = SecretKey::from_pkcs8_pem(block)
                .map_err(|_| Sm2Error::InvalidKey("bad PKCS#8 private key (PEM)"))?;
            return Self::from_secret_key(&sk);
        }
        if let Some(block) = pem_block(text, "EC PRIVATE KEY") {
            let sk = SecretKey::from_sec1_pem(block)
                .map_err(|_| Sm2Error::InvalidKey("bad SEC1 EC private key (PEM)"))?;
            return Self::from_secret_key(&sk);
        }
        // OpenSSL 3 labels SEC1 keys on the SM2 curve "SM2 PRIVATE KEY" (`openssl ec -in k.pem`).
        if let Some(block) = pem_block(text, "SM2 PRIVATE KEY") {
            let relabelled = Zeroizing::new(block.replace("SM2 PRIVATE KEY", "EC PRIVATE KEY"));
            let sk = SecretKey::from_sec1_pem(&relabelled)
                .map_err(|_| Sm2Error::InvalidKey("bad SEC1 SM2 private key (PEM)"))?;
            return Self::from_secret_key(&sk);
        }
        Err(Sm2Error::InvalidKey(
            "no PRIVATE KEY, EC PRIVATE KEY or SM2 PRIVATE KEY PEM block",
        ))
    }

    fn from_secret_key(sk: &SecretKey) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; FIELD_LEN]);
        bytes.copy_from_slice(&sk.to_bytes());
        Self::from_bytes(bytes.as_ref())
    }

    fn secret_key(&self) -> Result<SecretKey> {
        let nz = Option::<NonZeroScalar>::from(NonZeroScalar::new(self.d))
            .ok_or(Sm2Error::InvalidKey("private scalar is zero"))?;
        Ok(SecretKey::from(nz))
    }

    /// PKCS#8 `PrivateKeyInfo` (id-ecPublicKey, curve sm2p256v1), DER.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = self
            .secret_key()?
            .to_pkcs8_der()
            .map_err(|_| Sm2Error::InvalidKey("PKCS#8 encoding failed"))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, LF line endings).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        self.secret_key()?
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| Sm2Error::InvalidKey("PKCS#8 encoding failed"))
    }

    /// SEC1 `ECPrivateKey` (with curve parameters and public key), DER.
    pub fn to_sec1_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.secret_key()?
            .to_sec1_der()
            .map_err(|_| Sm2Error::InvalidKey("SEC1 encoding failed"))
    }

    /// SEC1 PEM (`-----BEGIN EC PRIVATE KEY-----`).
    pub fn to_sec1_pem(&self) -> Result<Zeroizing<String>> {
        self.secret_key()?
            .to_sec1_pem(LineEnding::LF)
            .map_err(|_| Sm2Error::InvalidKey("SEC1 encoding failed"))
    }

    /// Uncompressed SEC1 public point.
    pub fn public_bytes(&self) -> &[u8; POINT_LEN] {
        &self.public_bytes
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Short public fingerprint: first 8 bytes of SM3(04||x||y), hex. Never the scalar.
    pub fn fingerprint(&self) -> String {
        let h = Sm3::digest(self.public_bytes);
        hex::encode(&h[..8])
    }

    pub(crate) fn scalar(&self) -> &Scalar {
        &self.d
    }

    pub(crate) fn d1_inv(&self) -> &Scalar {
        &self.d1_inv
    }

    /// The signing nonce pool (poisoning cannot leave it inconsistent: `take` finishes each pair
    /// before it returns, so a poisoned lock is recovered).
    pub(crate) fn nonces(&self) -> std::sync::MutexGuard<'_, NoncePool> {
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Z_A (GB/T 32918.2, 5.5) of this key for `id`: the value cached at construction for the
    /// default ID, computed otherwise.
    pub fn z(&self, id: &[u8]) -> Result<[u8; 32]> {
        if id == super::dsa::DEFAULT_ID {
            Ok(self.z_default)
        } else {
            super::dsa::compute_z_bytes(&self.public_bytes, id)
        }
    }
}

/// P = [d]G (GB/T 32918.1, 6.1) on the chosen scalar-multiplication backend (the fixed-base
/// table by default). The result is re-validated as a curve point by the crate's decoder.
fn public_from_scalar(d: &NonZeroScalar, backend: Backend) -> Result<PublicKey> {
    match backend {
        Backend::Fast => {
            let p = base_mul(d, Backend::Fast);
            let mut sec1 = [0u8; POINT_LEN];
            sec1[0] = 0x04;
            sec1[1..33].copy_from_slice(&p.x);
            sec1[33..].copy_from_slice(&p.y);
            PublicKey::from_sec1_bytes(&sec1)
                .map_err(|_| Sm2Error::InvalidKey("public point derivation failed"))
        }
        Backend::Crate => Ok(PublicKey::from_secret_scalar(d)),
    }
}

/// Encode a public key as the 65-byte uncompressed SEC1 point.
pub fn encode_point(p: &PublicKey) -> [u8; POINT_LEN] {
    let enc = p.as_affine().to_sec1_point(false);
    let mut out = [0u8; POINT_LEN];
    out.copy_from_slice(enc.as_bytes());
    out
}

/// Parse a SEC1 point (uncompressed or compressed): on the curve, not the point at infinity.
pub fn parse_point(bytes: &[u8]) -> Result<PublicKey> {
    match bytes.first() {
        Some(0x04) if bytes.len() == POINT_LEN => {}
        Some(0x02 | 0x03) if bytes.len() == FIELD_LEN + 1 => {}
        _ => {
            return Err(Sm2Error::InvalidKey(
                "public key must be a 65-byte uncompressed or 33-byte compressed SEC1 point",
            ))
        }
    }
    PublicKey::from_sec1_bytes(bytes)
        .map_err(|_| Sm2Error::InvalidKey("public point is not on the SM2 curve"))
}

/// Load a public key from SPKI DER, SPKI PEM (`PUBLIC KEY`), or a raw SEC1 point.
pub fn load_public(data: &[u8]) -> Result<PublicKey> {
    if let Ok(text) = core::str::from_utf8(data) {
        if text.contains("-----BEGIN") {
            let block = pem_block(text, "PUBLIC KEY")
                .ok_or(Sm2Error::InvalidKey("no PUBLIC KEY PEM block"))?;
            return PublicKey::from_public_key_pem(block)
                .map_err(|_| Sm2Error::InvalidKey("bad SM2 SubjectPublicKeyInfo (PEM)"));
        }
    }
    match data.first() {
        Some(0x30) => PublicKey::from_public_key_der(data)
            .map_err(|_| Sm2Error::InvalidKey("bad SM2 SubjectPublicKeyInfo (DER)")),
        _ => parse_point(data),
    }
}

/// SPKI DER of a public key (id-ecPublicKey, curve sm2p256v1).
pub fn public_to_spki_der(p: &PublicKey) -> Result<Vec<u8>> {
    p.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|_| Sm2Error::InvalidKey("SPKI encoding failed"))
}

/// SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
pub fn public_to_spki_pem(p: &PublicKey) -> Result<String> {
    p.to_public_key_pem(LineEnding::LF)
        .map_err(|_| Sm2Error::InvalidKey("SPKI encoding failed"))
}

/// Find the PEM block with exactly this label and return it (BEGIN line through END line).
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

#[cfg(test)]
mod tests {
    use super::super::testvec;
    use super::*;

    #[test]
    fn public_key_backends_agree() {
        for i in 0..200u64 {
            let d = if i < 4 {
                [
                    Scalar::ONE,
                    Scalar::from(6u64),
                    -Scalar::from(6u64),
                    -Scalar::from(2u64),
                ][i as usize]
            } else {
                super::super::random_nonzero_scalar().unwrap()
            };
            let nz = Option::<NonZeroScalar>::from(NonZeroScalar::new(d)).unwrap();
            assert_eq!(
                encode_point(&public_from_scalar(&nz, Backend::Fast).unwrap()),
                encode_point(&public_from_scalar(&nz, Backend::Crate).unwrap())
            );
        }
    }

    #[test]
    fn vector_key_pair() {
        let v = testvec::load();
        let c = testvec::case(&v, "gbt32918.5-annexA-sign");
        let k = PrivateKey::from_bytes(&testvec::hexf(&c, "d")).unwrap();
        assert_eq!(
            k.public_bytes().to_vec(),
            testvec::hexf(&c, "public_key_sec1_uncompressed")
        );
    }

    #[test]
    fn scalar_range() {
        let n = hex::decode(testvec::load()["curve"]["n"].as_str().unwrap()).unwrap();
        assert!(PrivateKey::from_bytes(&[0u8; 32]).is_err());
        assert!(PrivateKey::from_bytes(&n).is_err());
        let mut n1 = n.clone();
        n1[31] -= 1; // n-1
        assert!(PrivateKey::from_bytes(&n1).is_err());
        let mut n2 = n.clone();
        n2[31] -= 2; // n-2 is the largest valid scalar
        assert!(PrivateKey::from_bytes(&n2).is_ok());
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(PrivateKey::from_bytes(&one).is_ok());
    }

    #[test]
    fn pkcs8_sec1_spki_roundtrip() {
        let k = PrivateKey::generate().unwrap();
        let k2 = PrivateKey::from_der(&k.to_pkcs8_der().unwrap()).unwrap();
        assert_eq!(k.public_bytes(), k2.public_bytes());
        let k3 = PrivateKey::from_der(&k.to_sec1_der().unwrap()).unwrap();
        assert_eq!(k.public_bytes(), k3.public_bytes());
        let k4 = PrivateKey::from_pem(&k.to_pkcs8_pem().unwrap()).unwrap();
        assert_eq!(k.public_bytes(), k4.public_bytes());
        let k5 = PrivateKey::from_pem(&k.to_sec1_pem().unwrap()).unwrap();
        assert_eq!(k.public_bytes(), k5.public_bytes());
        let spki = public_to_spki_der(k.public()).unwrap();
        assert_eq!(
            encode_point(&load_public(&spki).unwrap()),
            *k.public_bytes()
        );
        let pem = public_to_spki_pem(k.public()).unwrap();
        assert_eq!(
            encode_point(&load_public(pem.as_bytes()).unwrap()),
            *k.public_bytes()
        );
        assert!(!format!("{k:?}").contains(&hex::encode(k.scalar().to_repr())));
    }

    #[test]
    fn point_validation() {
        let k = PrivateKey::generate().unwrap();
        let mut p = *k.public_bytes();
        assert!(parse_point(&p).is_ok());
        p[64] ^= 1;
        assert!(parse_point(&p).is_err());
        assert!(parse_point(&[0u8]).is_err());
        assert!(parse_point(&[0u8; 65]).is_err());
    }

    #[test]
    fn nonce_pool_refills_grow_to_the_full_batch() {
        let mut pool = NoncePool::default();
        let mut sizes = Vec::new();
        for _ in 0..(32 + 64 + 128 + 256 + 256) {
            let was_empty = pool.items.is_empty();
            pool.take().unwrap();
            if was_empty {
                sizes.push(pool.items.len() + 1);
            }
        }
        assert_eq!(sizes, [32, 64, 128, 256, 256]);
        assert_eq!(NoncePool::FIRST, 32);
        assert_eq!(NoncePool::BATCH, 256);
    }
}
