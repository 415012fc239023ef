//! SM4 kernel tests: GB/T 32907 and Wycheproof vectors plus differential tests against the
//! RustCrypto crates, on every backend this CPU supports (each called explicitly).

use super::sm4::*;
use aes_gcm::aead::consts::U12;
use aes_gcm::{AeadInOut, AesGcm, KeyInit as _};
use sm4::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher};

/// Deterministic test PRNG (xorshift64*), so failures reproduce.
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    pub(crate) fn rbytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.bytes(n)
    }
    pub(crate) fn arr16(&mut self) -> [u8; 16] {
        self.bytes(16).try_into().unwrap()
    }
}

/// A public vector file from ../shared/vectors beside the checkout, or from $BIDKERNEL_VECTORS
/// (as tests/conftest.py and tests/vectors_symm.rs).
pub(crate) fn vectors(name: &str) -> serde_json::Value {
    let dir = std::env::var_os("BIDKERNEL_VECTORS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
        });
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("public vector file {}: {e}", p.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn h(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn backends() -> Vec<Backend> {
    let b = Backend::available();
    assert!(b.contains(&Backend::Portable));
    b
}

type RefCtr = ctr::Ctr128BE<sm4::Sm4>;

fn ref_ctr(key: &[u8; 16], iv: &[u8; 16], offset_blocks: u64, data: &mut [u8]) {
    let start = u128::from_be_bytes(*iv).wrapping_add(offset_blocks as u128);
    let mut c = RefCtr::new(key.into(), &start.to_be_bytes().into());
    c.apply_keystream(data);
}

fn ref_cbc_enc(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let mut e = cbc::Encryptor::<sm4::Sm4>::new(key.into(), iv.into());
    for b in data.chunks_exact_mut(16) {
        e.encrypt_block(b.try_into().unwrap());
    }
}

fn ref_cbc_dec(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let mut d = cbc::Decryptor::<sm4::Sm4>::new(key.into(), iv.into());
    for b in data.chunks_exact_mut(16) {
        d.decrypt_block(b.try_into().unwrap());
    }
}

#[test]
fn key_schedule_matches_gbt32907_example_and_both_sboxes() {
    let key: [u8; 16] = hex::decode("0123456789abcdeffedcba9876543210")
        .unwrap()
        .try_into()
        .unwrap();
    let k = Sm4Keys::new(&key);
    // GB/T 32907-2016 Appendix A.1 lists rk_0 = f12186f9 and rk_31 = 9124a012.
    assert_eq!(k.round_keys()[0], 0xf121_86f9);
    assert_eq!(k.round_keys()[31], 0x9124_a012);
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let key = rng.arr16();
        assert_eq!(
            Sm4Keys::new(&key).round_keys(),
            &Sm4Keys::with_scalar_schedule(&key)
        );
    }
}

#[test]
fn gbt32907_vectors_on_every_backend() {
    let v = vectors("sm4_gbt32907.json");
    for b in backends() {
        for c in v["cases"].as_array().unwrap() {
            let key: [u8; 16] = h(&c["key"]).try_into().unwrap();
            let keys = Sm4Keys::new(&key);
            let (pt, ct) = (h(&c["pt"]), h(&c["ct"]));
            let id = c["id"].as_str().unwrap();
            match c["mode"].as_str().unwrap() {
                "ecb" => {
                    let mut x = pt.clone();
                    encrypt_blocks_with(b, &keys, &mut x).unwrap();
                    assert_eq!(x, ct, "{id} {b:?}");
                    decrypt_blocks_with(b, &keys, &mut x).unwrap();
                    assert_eq!(x, pt, "{id} {b:?}");
                }
                "ecb-iterated" => {
                    // Serial chain: one block encrypted 1,000,000 times. Run through CBC with a
                    // zero IV one block at a time (== ECB), in 1000-block batches via the chain.
                    let n = c["iterations"].as_u64().unwrap();
                    if cfg!(debug_assertions) && b == Backend::Portable {
                        continue; // unoptimised RustCrypto is too slow here; covered in release runs.
                    }
                    let mut x: [u8; 16] = pt.clone().try_into().unwrap();
                    for _ in 0..n {
                        cbc_encrypt_with(b, &keys, &[0; 16], &mut x).unwrap();
                    }
                    assert_eq!(x.to_vec(), ct, "{id} {b:?}");
                }
                "cbc" => {
                    let iv: [u8; 16] = h(&c["iv"]).try_into().unwrap();
                    let mut x = pt.clone();
                    cbc_encrypt_with(b, &keys, &iv, &mut x).unwrap();
                    assert_eq!(x, ct, "{id} {b:?}");
                    cbc_decrypt_with(b, &keys, &iv, &mut x).unwrap();
                    assert_eq!(x, pt, "{id} {b:?}");
                }
                "ctr" => {
                    let iv: [u8; 16] = h(&c["iv"]).try_into().unwrap();
                    let mut x = pt.clone();
                    ctr_xor_with(b, &keys, &iv, 0, &mut x);
                    assert_eq!(x, ct, "{id} {b:?}");
                }
                m => panic!("unknown mode {m}"),
            }
        }
    }
}

#[test]
fn ecb_differential_random_lengths() {
    let mut rng = Rng::new(1);
    for b in backends() {
        for i in 0..300 {
            let key = rng.arr16();
            let keys = Sm4Keys::new(&key);
            let n = if i < 80 { i } else { rng.below(200) };
            let pt = rng.bytes(16 * n);
            let mut want = pt.clone();
            let c = sm4::Sm4::new(&key.into());
            for blk in want.chunks_exact_mut(16) {
                sm4::cipher::BlockCipherEncrypt::encrypt_block(&c, blk.try_into().unwrap());
            }
            let mut x = pt.clone();
            encrypt_blocks_with(b, &keys, &mut x).unwrap();
            assert_eq!(x, want, "{b:?} n={n}");
            decrypt_blocks_with(b, &keys, &mut x).unwrap();
            assert_eq!(x, pt);
        }
        let keys = Sm4Keys::new(&[0; 16]);
        assert_eq!(
            encrypt_blocks_with(b, &keys, &mut [0; 15]),
            Err(Error::NotBlockAligned)
        );
    }
}

#[test]
fn ctr_differential_random_lengths_offsets_and_wraps() {
    let mut rng = Rng::new(2);
    // Counters close to the 2^32, 2^64 and 2^128 boundaries, and random ones.
    let edges: [u128; 6] = [
        (1u128 << 32) - 3,
        (1u128 << 64) - 17,
        u128::MAX - 40,
        u128::MAX,
        (7u128 << 96) | 0xffff_fff0,
        0,
    ];
    for b in backends() {
        for i in 0..600 {
            let key = rng.arr16();
            let keys = Sm4Keys::new(&key);
            let iv: [u8; 16] = if i % 3 == 0 {
                let e = edges[rng.below(edges.len())];
                e.wrapping_sub(rng.below(40) as u128).to_be_bytes()
            } else {
                rng.arr16()
            };
            let off = match i % 4 {
                0 => 0,
                1 => rng.below(100) as u64,
                2 => u64::MAX - rng.below(50) as u64,
                _ => rng.next(),
            };
            let n = if i < 70 { i * 7 } else { rng.below(3000) };
            let pt = rng.bytes(n);
            let mut want = pt.clone();
            ref_ctr(&key, &iv, off, &mut want);
            let mut x = pt.clone();
            ctr_xor_with(b, &keys, &iv, off, &mut x);
            assert_eq!(x, want, "{b:?} i={i} n={n} off={off}");
        }
        // Splitting a stream at block boundaries with offsets gives the same result.
        let key = rng.arr16();
        let keys = Sm4Keys::new(&key);
        let iv = (u128::MAX - 5).to_be_bytes();
        let pt = rng.bytes(16 * 100 + 5);
        let mut whole = pt.clone();
        ctr_xor_with(b, &keys, &iv, 0, &mut whole);
        let mut parts = pt.clone();
        let (a, rest) = parts.split_at_mut(16 * 37);
        ctr_xor_with(b, &keys, &iv, 0, a);
        ctr_xor_with(b, &keys, &iv, 37, rest);
        assert_eq!(parts, whole);
    }
}

#[test]
fn cbc_differential_random_lengths() {
    let mut rng = Rng::new(3);
    for b in backends() {
        for i in 0..300 {
            let key = rng.arr16();
            let iv = rng.arr16();
            let keys = Sm4Keys::new(&key);
            let n = if i < 80 { i } else { rng.below(200) };
            let pt = rng.bytes(16 * n);
            let mut want = pt.clone();
            ref_cbc_enc(&key, &iv, &mut want);
            let mut x = pt.clone();
            cbc_encrypt_with(b, &keys, &iv, &mut x).unwrap();
            assert_eq!(x, want, "{b:?} enc n={n}");
            let mut back = want.clone();
            ref_cbc_dec(&key, &iv, &mut back);
            assert_eq!(back, pt);
            cbc_decrypt_with(b, &keys, &iv, &mut x).unwrap();
            assert_eq!(x, pt, "{b:?} dec n={n}");
        }
        let keys = Sm4Keys::new(&[0; 16]);
        assert_eq!(
            cbc_decrypt_with(b, &keys, &[0; 16], &mut [0; 17]),
            Err(Error::NotBlockAligned)
        );
        assert_eq!(
            cbc_encrypt_with(b, &keys, &[0; 16], &mut [0; 1]),
            Err(Error::NotBlockAligned)
        );
    }
}

#[test]
fn gcm_differential_against_rustcrypto_aes_gcm_generic() {
    type RefGcm = AesGcm<sm4::Sm4, U12>;
    let mut rng = Rng::new(4);
    for b in backends() {
        for i in 0..300 {
            let key = rng.arr16();
            let keys = Sm4Keys::new(&key);
            let nonce = rng.bytes(12);
            let aad = if i % 5 == 0 {
                Vec::new()
            } else {
                rng.rbytes(100)
            };
            let n = if i < 60 { i * 5 } else { rng.below(20000) };
            let pt = rng.bytes(n);
            let r = RefGcm::new(&key.into());
            let mut want = pt.clone();
            let want_tag = r
                .encrypt_inout_detached(
                    nonce.as_slice().try_into().unwrap(),
                    &aad,
                    want.as_mut_slice().into(),
                )
                .unwrap();
            let mut x = pt.clone();
            let tag = gcm_seal_with(b, &keys, &nonce, &aad, &mut x).unwrap();
            assert_eq!(x, want, "{b:?} n={n}");
            assert_eq!(tag.as_slice(), want_tag.as_slice(), "{b:?} n={n}");
            gcm_open_with(b, &keys, &nonce, &aad, &mut x, &tag).unwrap();
            assert_eq!(x, pt);
            // Any flipped bit in the tag, ciphertext or AAD fails and zeroes the buffer.
            let mut ct = want.clone();
            let mut bad = tag;
            bad[rng.below(16)] ^= 1 << rng.below(8);
            assert_eq!(
                gcm_open_with(b, &keys, &nonce, &aad, &mut ct, &bad),
                Err(Error::AuthenticationFailed)
            );
            assert!(ct.iter().all(|&v| v == 0));
            if n > 0 {
                let mut ct = want.clone();
                ct[rng.below(n)] ^= 0x80;
                assert_eq!(
                    gcm_open_with(b, &keys, &nonce, &aad, &mut ct, &tag),
                    Err(Error::AuthenticationFailed)
                );
            }
        }
        let keys = Sm4Keys::new(&[0; 16]);
        assert_eq!(
            gcm_seal_with(b, &keys, &[], &[], &mut []),
            Err(Error::InvalidNonce)
        );
        assert_eq!(
            gcm_open_with(b, &keys, &[0; 12], &[], &mut [], &[0; 12]),
            Err(Error::InvalidTagLength)
        );
    }
}

#[test]
fn gcm_backends_agree_on_arbitrary_nonce_lengths() {
    // Non-96-bit nonces go through GHASH to J0; the 2^32 counter wrap itself is covered by the
    // Wycheproof CounterWrap cases below.
    let mut rng = Rng::new(5);
    let bs = backends();
    for _ in 0..40 {
        let keys = Sm4Keys::new(&rng.arr16());
        let nonce = {
            let n = 1 + rng.below(64);
            rng.bytes(n)
        };
        let aad = rng.rbytes(40);
        let pt = rng.rbytes(5000);
        let mut outs = Vec::new();
        for &b in &bs {
            let mut x = pt.clone();
            let t = gcm_seal_with(b, &keys, &nonce, &aad, &mut x).unwrap();
            outs.push((x, t));
        }
        assert!(outs.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn wycheproof_sm4_gcm_on_every_backend() {
    let v = vectors("wycheproof/sm4_gcm_test.json");
    let mut count = 0;
    for b in backends() {
        for g in v["testGroups"].as_array().unwrap() {
            for t in g["tests"].as_array().unwrap() {
                let key: [u8; 16] = h(&t["key"]).try_into().unwrap();
                let keys = Sm4Keys::new(&key);
                let (iv, aad, msg, ct, tag) = (
                    h(&t["iv"]),
                    h(&t["aad"]),
                    h(&t["msg"]),
                    h(&t["ct"]),
                    h(&t["tag"]),
                );
                let valid = t["result"].as_str().unwrap() == "valid";
                let id = t["tcId"].as_u64().unwrap();
                let mut x = msg.clone();
                match gcm_seal_with(b, &keys, &iv, &aad, &mut x) {
                    Ok(got) => {
                        if valid {
                            assert_eq!(x, ct, "tc {id} {b:?}");
                            assert_eq!(got.to_vec(), tag, "tc {id} {b:?}");
                        }
                    }
                    Err(e) => assert!(!valid, "tc {id} {b:?}: {e}"),
                }
                let mut y = ct.clone();
                let r = gcm_open_with(b, &keys, &iv, &aad, &mut y, &tag);
                if valid {
                    assert_eq!(r, Ok(()), "tc {id} {b:?}");
                    assert_eq!(y, msg, "tc {id} {b:?}");
                } else {
                    assert!(r.is_err(), "tc {id} {b:?} accepted an invalid case");
                }
                count += 1;
            }
        }
    }
    assert_eq!(count, 104 * backends().len());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn gfni_sbox_matches_table_on_all_256_inputs_in_every_byte_position() {
    use super::sm4_sbox::SBOX_TABLE;
    if !crate::cpu::has("gfni") {
        return;
    }
    for x in 0..=255u32 {
        for pos in 0..4 {
            let w = x << (8 * pos) | 0x5a5a_5a5a & !(0xff << (8 * pos));
            let want = u32::from_be_bytes(w.to_be_bytes().map(|b| SBOX_TABLE[b as usize]));
            // SAFETY: GFNI checked above.
            assert_eq!(unsafe { super::sm4_gfni::sbox_word(w) }, want);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn aesni_sbox_matches_table_on_all_256_inputs_in_every_byte_position() {
    use super::sm4_sbox::SBOX_TABLE;
    if !super::sm4_aesni::available() {
        return;
    }
    for x in 0..=255u32 {
        for pos in 0..4 {
            let w = x << (8 * pos) | 0xa5a5_a5a5 & !(0xff << (8 * pos));
            let want = u32::from_be_bytes(w.to_be_bytes().map(|b| SBOX_TABLE[b as usize]));
            // SAFETY: AES-NI and SSSE3 checked above.
            assert_eq!(unsafe { super::sm4_aesni::sbox_word(w) }, want);
        }
    }
}

#[test]
fn dispatch_reports_a_backend() {
    assert!(["avx512-gfni", "aesni-avx2", "aesni-ssse3", "portable"].contains(&active_backend()));
    let keys = Sm4Keys::new(&[1; 16]);
    let mut a = vec![9u8; 4096];
    let mut b2 = a.clone();
    ctr_xor(&keys, &[2; 16], 3, &mut a);
    ctr_xor_with(Backend::Portable, &keys, &[2; 16], 3, &mut b2);
    assert_eq!(a, b2);
    assert_eq!(format!("{keys:?}"), "Sm4Keys(..)");
}

#[test]
fn unaligned_buffers_give_the_same_results_on_every_backend() {
    let mut rng = Rng::new(6);
    for b in backends() {
        let keys = Sm4Keys::new(&rng.arr16());
        let iv = rng.arr16();
        for off in 0..16 {
            let n = 16 * (1 + rng.below(80));
            let pt = rng.bytes(n);
            let mut big = vec![0u8; n + 32];
            let run = |buf: &mut [u8], op: usize| match op {
                0 => encrypt_blocks_with(b, &keys, buf).unwrap(),
                1 => ctr_xor_with(b, &keys, &iv, 0, buf),
                2 => cbc_decrypt_with(b, &keys, &iv, buf).unwrap(),
                _ => drop(gcm_seal_with(b, &keys, &iv[..12], &[], buf).unwrap()),
            };
            for op in 0..4 {
                let mut aligned = pt.clone();
                run(&mut aligned, op);
                big[off..off + n].copy_from_slice(&pt);
                run(&mut big[off..off + n], op);
                assert_eq!(&big[off..off + n], &aligned[..], "{b:?} off={off} op={op}");
            }
        }
    }
}

#[test]
fn keys_and_hasher_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Sm4Keys>();
    send_sync::<super::sm3::Hasher>();
    // Bulk decryption fans out over threads with one shared key schedule.
    let keys = Sm4Keys::new(&[3; 16]);
    let mut bufs = vec![vec![5u8; 3000]; 4];
    std::thread::scope(|s| {
        for (i, b) in bufs.iter_mut().enumerate() {
            let k = &keys;
            s.spawn(move || ctr_xor(k, &[i as u8; 16], 0, b));
        }
    });
    for (i, b) in bufs.iter().enumerate() {
        let mut want = vec![5u8; 3000];
        ctr_xor_with(Backend::Portable, &keys, &[i as u8; 16], 0, &mut want);
        assert_eq!(*b, want);
    }
}
