//! SM3, HMAC-SM3 and SM4 (ECB, CBC, CTR, GCM, CCM) against the public vector files in
//! ../shared/vectors (or $BIDKERNEL_VECTORS). The values are read from the files, never copied here.

use std::path::PathBuf;

use bidkernel_native::{sm3, sm4};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BIDKERNEL_VECTORS") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

fn load(rel: &str) -> Value {
    let p = vectors_dir().join(rel);
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn hx(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("missing field {field}")),
    )
    .expect("hex")
}

/// (group, test) pairs of a Wycheproof file.
fn wycheproof_tests(rel: &str) -> Vec<(Value, Value)> {
    let doc = load(rel);
    let mut out = Vec::new();
    for g in doc["testGroups"].as_array().expect("testGroups") {
        for t in g["tests"].as_array().expect("tests") {
            out.push((g.clone(), t.clone()));
        }
    }
    assert_eq!(
        out.len() as u64,
        doc["numberOfTests"].as_u64().unwrap(),
        "{rel}: test count"
    );
    out
}

#[test]
fn sm3_gbt32905_cases() {
    let doc = load("sm3_gbt32905.json");
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for c in cases {
        let msg = hx(c, "msg");
        let want = hx(c, "digest");
        assert_eq!(sm3::digest(&msg).to_vec(), want, "{}", c["id"]);
        let mut h = sm3::Hasher::new();
        for piece in msg.chunks(7) {
            h.update(piece);
        }
        assert_eq!(h.digest().to_vec(), want, "{} streamed", c["id"]);
    }
}

#[test]
fn hmac_sm3_wycheproof() {
    let (mut valid, mut invalid) = (0, 0);
    for (g, t) in wycheproof_tests("wycheproof/hmac_sm3_test.json") {
        let key = hx(&t, "key");
        let msg = hx(&t, "msg");
        let tag = hx(&t, "tag");
        let tag_len = g["tagSize"].as_u64().unwrap() as usize / 8;
        let full = sm3::hmac(&key, &msg);
        match t["result"].as_str().unwrap() {
            "valid" => {
                assert_eq!(&full[..tag_len], &tag[..], "tcId {}", t["tcId"]);
                assert!(sm3::hmac_verify(&key, &msg, &tag), "tcId {}", t["tcId"]);
                valid += 1;
            }
            "invalid" => {
                assert!(
                    !sm3::hmac_verify(&key, &msg, &tag),
                    "tcId {} accepted",
                    t["tcId"]
                );
                invalid += 1;
            }
            other => panic!("unexpected result {other}"),
        }
    }
    assert_eq!((valid, invalid), (66, 108));
}

#[test]
fn sm4_gbt32907_cases() {
    let doc = load("sm4_gbt32907.json");
    let mut seen = Vec::new();
    for c in doc["cases"].as_array().unwrap() {
        let key = hx(c, "key");
        let pt = hx(c, "pt");
        let ct = hx(c, "ct");
        let mode = c["mode"].as_str().unwrap();
        match mode {
            "ecb" => {
                assert_eq!(sm4::encrypt_block(&key, &pt).unwrap().to_vec(), ct);
                assert_eq!(sm4::decrypt_block(&key, &ct).unwrap().to_vec(), pt);
            }
            "ecb-iterated" => {
                let n = c["iterations"].as_u64().unwrap();
                let cipher = sm4::Sm4::new(&key).unwrap();
                let mut b: [u8; 16] = pt.clone().try_into().unwrap();
                for _ in 0..n {
                    cipher.encrypt_block(&mut b);
                }
                assert_eq!(b.to_vec(), ct);
                for _ in 0..n {
                    cipher.decrypt_block(&mut b);
                }
                assert_eq!(b.to_vec(), pt);
            }
            "cbc" => {
                let iv = hx(c, "iv");
                assert_eq!(c["padding"].as_str(), Some("none"));
                assert_eq!(sm4::cbc_encrypt(&key, &iv, &pt, false).unwrap(), ct);
                assert_eq!(sm4::cbc_decrypt(&key, &iv, &ct, false).unwrap(), pt);
            }
            "ctr" => {
                let iv = hx(c, "iv");
                assert_eq!(sm4::ctr_xor(&key, &iv, &pt).unwrap(), ct);
                assert_eq!(sm4::ctr_xor(&key, &iv, &ct).unwrap(), pt);
            }
            other => panic!("unknown mode {other} in vector file"),
        }
        seen.push(mode.to_string());
    }
    for m in ["ecb", "ecb-iterated", "cbc", "ctr"] {
        assert!(seen.iter().any(|s| s == m), "vector file lacks a {m} case");
    }
}

#[test]
fn sm4_gcm_wycheproof() {
    let (mut valid, mut invalid) = (0, 0);
    for (_g, t) in wycheproof_tests("wycheproof/sm4_gcm_test.json") {
        let (key, iv, aad, msg, ct, tag) = (
            hx(&t, "key"),
            hx(&t, "iv"),
            hx(&t, "aad"),
            hx(&t, "msg"),
            hx(&t, "ct"),
            hx(&t, "tag"),
        );
        let id = &t["tcId"];
        match t["result"].as_str().unwrap() {
            "valid" => {
                let (c, tg) = sm4::gcm_encrypt(&key, &iv, &aad, &msg)
                    .unwrap_or_else(|e| panic!("tcId {id}: {e}"));
                assert_eq!((c, tg.to_vec()), (ct.clone(), tag.clone()), "tcId {id}");
                assert_eq!(
                    sm4::gcm_decrypt(&key, &iv, &aad, &ct, &tag).unwrap(),
                    msg,
                    "tcId {id}"
                );
                // Streamed in odd pieces.
                let mut g = sm4::Gcm::decryptor(&key, &iv).unwrap();
                for a in aad.chunks(5) {
                    g.update_aad(a).unwrap();
                }
                let mut buf = ct.clone();
                for p in buf.chunks_mut(7) {
                    g.update(p).unwrap();
                }
                g.verify(&tag).unwrap();
                assert_eq!(buf, msg, "tcId {id} streamed");
                valid += 1;
            }
            "invalid" => {
                assert!(
                    sm4::gcm_decrypt(&key, &iv, &aad, &ct, &tag).is_err(),
                    "tcId {id} accepted"
                );
                invalid += 1;
            }
            other => panic!("unexpected result {other}"),
        }
    }
    assert_eq!((valid, invalid), (75, 29));
}

#[test]
fn sm4_ccm_wycheproof() {
    let (mut valid, mut invalid) = (0, 0);
    for (_g, t) in wycheproof_tests("wycheproof/sm4_ccm_test.json") {
        let (key, iv, aad, msg, ct, tag) = (
            hx(&t, "key"),
            hx(&t, "iv"),
            hx(&t, "aad"),
            hx(&t, "msg"),
            hx(&t, "ct"),
            hx(&t, "tag"),
        );
        let id = &t["tcId"];
        match t["result"].as_str().unwrap() {
            "valid" => {
                let (c, tg) = sm4::ccm_encrypt(&key, &iv, &aad, &msg, tag.len())
                    .unwrap_or_else(|e| panic!("tcId {id}: {e}"));
                assert_eq!((c, tg), (ct.clone(), tag.clone()), "tcId {id}");
                assert_eq!(
                    sm4::ccm_decrypt(&key, &iv, &aad, &ct, &tag).unwrap(),
                    msg,
                    "tcId {id}"
                );
                valid += 1;
            }
            "invalid" => {
                assert!(
                    sm4::ccm_decrypt(&key, &iv, &aad, &ct, &tag).is_err(),
                    "tcId {id} accepted"
                );
                invalid += 1;
            }
            other => panic!("unexpected result {other}"),
        }
    }
    assert_eq!((valid, invalid), (135, 49));
}
