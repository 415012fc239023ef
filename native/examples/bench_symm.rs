//! Throughput of the SIMD SM4/SM3 kernels against their portable paths, one thread, 1 MiB buffers.
//!
//! `taskset -c 0 cargo run --release --example bench_symm [-- SECONDS_PER_REP]`
//!
//! Each figure is the median of three timed repetitions (default 0.5 s each). Run the libgcrypt
//! anchor (benchmarks/simd/run_anchor.sh) in the same session to quote ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bidkernel_native::simd::{sm3, sm4};

fn bench(label: &str, backend: &str, bytes: usize, rep: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let mut r = [0f64; 3];
    let mut best = f64::MAX;
    for x in r.iter_mut() {
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed() < rep {
            let t1 = Instant::now();
            f();
            best = best.min(t1.elapsed().as_secs_f64());
            n += 1;
        }
        *x = (n as f64) * (bytes as f64) / t0.elapsed().as_secs_f64() / 1e6;
    }
    r.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // "best" = the fastest single call: least disturbed by other processes on a shared core.
    println!(
        "{label:<28} {backend:<22} MB/s median={:>8.1} best={:>8.1}  reps=[{:.1} {:.1} {:.1}]",
        r[1],
        bytes as f64 / best / 1e6,
        r[0],
        r[1],
        r[2]
    );
    r[1]
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(0.5);
    let rep = Duration::from_secs_f64(secs);
    const N: usize = 1 << 20;
    let mut buf: Vec<u8> = (0..N).map(|i| (i * 131 + 7) as u8).collect();
    let key = [0u8; 16];
    let iv = [0u8; 16];
    let keys = sm4::Sm4Keys::new(&key);
    println!(
        "sm4 dispatch: {}   sm3 dispatch: {}",
        sm4::active_backend(),
        sm3::active_backend()
    );

    for b in sm4::Backend::available() {
        let n = b.name();
        bench("SM4-ECB enc 1MiB", n, N, rep, || {
            sm4::encrypt_blocks_with(b, &keys, black_box(&mut buf)).unwrap()
        });
        bench("SM4-CTR 1MiB", n, N, rep, || {
            sm4::ctr_xor_with(b, &keys, &iv, 0, black_box(&mut buf))
        });
        bench("SM4-GCM seal 1MiB", n, N, rep, || {
            black_box(sm4::gcm_seal_with(b, &keys, &iv[..12], &[], black_box(&mut buf)).unwrap());
        });
        bench("SM4-CBC dec 1MiB", n, N, rep, || {
            sm4::cbc_decrypt_with(b, &keys, &iv, black_box(&mut buf)).unwrap()
        });
        bench("SM4-CBC enc 1MiB", n, N, rep, || {
            sm4::cbc_encrypt_with(b, &keys, &iv, black_box(&mut buf)).unwrap()
        });
    }
    {
        // RustCrypto crates used directly (ctr + sm4), as a second baseline.
        use ::sm4::cipher::{KeyIvInit, StreamCipher};
        bench("SM4-CTR 1MiB", "rustcrypto", N, rep, || {
            let mut c = ctr::Ctr128BE::<::sm4::Sm4>::new(&key.into(), &iv.into());
            c.apply_keystream(black_box(&mut buf));
        });
    }

    for b in sm3::Backend::available() {
        let n = b.name();
        bench("SM3 1MiB", n, N, rep, || {
            black_box(sm3::digest_with(b, black_box(&buf)));
        });
    }
    {
        use ::sm3::Digest;
        bench("SM3 1MiB", "rustcrypto", N, rep, || {
            black_box(::sm3::Sm3::digest(black_box(&buf)));
        });
    }
    // Multi-buffer: 16 independent 64 KiB messages per call (1 MiB total).
    let msgs: Vec<&[u8]> = buf.chunks(N / 16).collect();
    for b in sm3::MbBackend::available() {
        bench("SM3 multi-buffer 16x64KiB", b.name(), N, rep, || {
            black_box(sm3::digest_many_with(b, black_box(&msgs)));
        });
    }
    let msgs: Vec<&[u8]> = buf.chunks(1024).collect();
    for b in sm3::MbBackend::available() {
        bench("SM3 multi-buffer 1024x1KiB", b.name(), N, rep, || {
            black_box(sm3::digest_many_with(b, black_box(&msgs)));
        });
    }
}
