//! Quick single-core throughput of the SM3/SM4 kernels (no Python in the loop):
//! `cargo run --release --example symm_speed [seconds]`.
use std::time::{Duration, Instant};

use bidkernel_native::{sm3, sm4};

fn rate(name: &str, secs: f64, len: usize, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        f();
        n += 1;
    }
    let mbs = (n as f64 * len as f64) / start.elapsed().as_secs_f64() / 1e6;
    println!("{name:10} {mbs:8.0} MB/s");
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let len = 1 << 20;
    let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
    let (key, iv) = ([7u8; 16], [9u8; 16]);
    let which: Vec<String> = std::env::args().skip(2).collect();
    let on = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    if on("sm3") {
        rate("sm3", secs, len, || {
            std::hint::black_box(sm3::digest(&data));
        });
    }
    if on("ctr") {
        rate("ctr", secs, len, || {
            std::hint::black_box(sm4::ctr_xor(&key, &iv, &data).unwrap());
        });
    }
    if on("cbc-enc") {
        rate("cbc-enc", secs, len, || {
            std::hint::black_box(sm4::cbc_encrypt(&key, &iv, &data, false).unwrap());
        });
    }
    if on("cbc-dec") {
        rate("cbc-dec", secs, len, || {
            std::hint::black_box(sm4::cbc_decrypt(&key, &iv, &data, false).unwrap());
        });
    }
    if on("gcm") {
        rate("gcm", secs, len, || {
            std::hint::black_box(sm4::gcm_encrypt(&key, &iv[..12], b"", &data).unwrap());
        });
    }
}
