//! SM2 per-operation throughput at the Rust level, one thread, printed in the same shape as the
//! GmSSL anchor harness (`../shared/tools/anchors/gmssl_bench.c`) so that the two can be run
//! back to back and compared like with like:
//!
//! * sign: the key object holds (1+d)^-1 and Z_A for the default ID (GmSSL: `SM2_SIGN_CTX`
//!   initialised once, `sm2_sign_reset/update/finish` per signature); the row "Z recomputed"
//!   hashes Z_A on every call (GmSSL: `sm2_sign_init` every call).
//! * verify: Z_A computed once for the public key, then e = SM3(Z_A || M) and the equation per
//!   call (GmSSL: `SM2_VERIFY_CTX` reused).
//! * encrypt / decrypt: one-shot calls on a 32-byte message (GmSSL: `sm2_encrypt`,
//!   `sm2_decrypt`), DER ciphertexts as GmSSL produces.
//!
//! `cargo run --release --example bench_sm2 -- [seconds per repetition, default 1.0]`, pinned
//! with `taskset -c 0`; benchmarks/sm2_anchor.sh runs it beside GmSSL.

use bidkernel_native::gm_sm2::dsa::{self, SigFormat, DEFAULT_ID};
use bidkernel_native::gm_sm2::keys::PrivateKey;
use bidkernel_native::gm_sm2::pke::{self, CipherFormat};
use std::hint::black_box;
use std::time::Instant;

/// Three repetitions of at least `secs` seconds each; prints and returns the median ops/s.
fn bench(label: &str, secs: f64, mut f: impl FnMut()) -> f64 {
    let mut reps = [0f64; 3];
    for r in reps.iter_mut() {
        let t0 = Instant::now();
        let mut n = 0u64;
        loop {
            f();
            n += 1;
            if n.is_multiple_of(16) && t0.elapsed().as_secs_f64() >= secs {
                break;
            }
        }
        *r = n as f64 / t0.elapsed().as_secs_f64();
    }
    let mut s = reps;
    s.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<38} ops/s median={:.1}  reps=[{:.1} {:.1} {:.1}]",
        s[1], reps[0], reps[1], reps[2]
    );
    s[1]
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let key = PrivateKey::generate().expect("key");
    let public = *key.public();
    let msg = [0x5au8; 32];
    bench("bidkernel SM2 sign 32B (key, Z cached)", secs, || {
        black_box(dsa::sign(&key, black_box(&msg), DEFAULT_ID).expect("sign"));
    });
    bench("bidkernel SM2 sign 32B (Z recomputed)", secs, || {
        let z = dsa::compute_z_bytes(key.public_bytes(), DEFAULT_ID).expect("z");
        black_box(dsa::sign_digest(&key, &dsa::compute_e(&z, black_box(&msg))).expect("sign"));
    });
    let sig = dsa::sign(&key, &msg, DEFAULT_ID)
        .expect("sign")
        .encode(SigFormat::Der);
    let z = dsa::compute_z(&public, DEFAULT_ID).expect("z");
    let parsed = dsa::Signature::decode(&sig, SigFormat::Der).expect("der");
    let mut ok = true;
    bench("bidkernel SM2 verify 32B (Z cached)", secs, || {
        let e = dsa::compute_e(&z, black_box(&msg));
        ok &= dsa::verify_digest(&public, &e, &parsed).expect("verify");
    });
    bench("bidkernel SM2 verify 32B (Z recomputed)", secs, || {
        ok &= dsa::verify_encoded(&public, black_box(&msg), DEFAULT_ID, &sig, SigFormat::Der)
            .expect("verify");
    });
    println!("verify all ok: {}", ok as u8);
    bench("bidkernel SM2 encrypt 32B (one-shot)", secs, || {
        black_box(pke::encrypt(&public, black_box(&msg), CipherFormat::Der).expect("encrypt"));
    });
    let ct = pke::encrypt(&public, &msg, CipherFormat::Der).expect("encrypt");
    let mut ok = true;
    bench("bidkernel SM2 decrypt 32B", secs, || {
        ok &= pke::decrypt(&key, black_box(&ct), CipherFormat::Der).expect("decrypt")[..] == msg;
    });
    println!("decrypt all ok: {}", ok as u8);
}
