//! dudect-style timing check of SM4-GCM tag verification (fixed-vs-random, Welch's t-test).
//!
//! `taskset -c 0 cargo run --release --example ct_gcm_tag [-- SAMPLES]`
//!
//! Class A: the wrong tag differs from the right one in its first byte; class B: a fresh random
//! wrong tag each time. The two classes are interleaved at random. A constant-time comparison
//! gives |t| < 4.5 (the usual dudect threshold); an early-exit comparison on the first byte
//! would show up as a large |t|. Each measurement is one `gcm_open` of a 64-byte message on the
//! dispatched backend.

use std::hint::black_box;
use std::time::Instant;

use bidkernel_native::simd::sm4;

struct Welch {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl Welch {
    fn push(&mut self, class: usize, x: f64) {
        self.n[class] += 1.0;
        let d = x - self.mean[class];
        self.mean[class] += d / self.n[class];
        self.m2[class] += d * (x - self.mean[class]);
    }
    fn t(&self) -> f64 {
        let v0 = self.m2[0] / (self.n[0] - 1.0);
        let v1 = self.m2[1] / (self.n[1] - 1.0);
        (self.mean[0] - self.mean[1]) / (v0 / self.n[0] + v1 / self.n[1]).sqrt()
    }
}

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(200_000);
    let keys = sm4::Sm4Keys::new(&[7; 16]);
    let nonce = [1u8; 12];
    let mut msg = [0u8; 64];
    let tag = sm4::gcm_seal(&keys, &nonce, b"aad", &mut msg).unwrap();
    let ct = msg;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut w = Welch {
        n: [0.0; 2],
        mean: [0.0; 2],
        m2: [0.0; 2],
    };
    // Inputs are prepared before timing, so both classes run the identical measured code path.
    let inputs: Vec<(usize, [u8; 16])> = (0..samples)
        .map(|_| {
            let class = (next() & 1) as usize;
            let mut bad = tag;
            if class == 0 {
                bad[0] ^= 1;
            } else {
                for b in bad.iter_mut() {
                    *b = next() as u8;
                }
                bad[0] ^= (bad == tag) as u8;
            }
            (class, bad)
        })
        .collect();
    let mut times = Vec::with_capacity(samples);
    for (class, bad) in &inputs {
        let mut buf = ct;
        let t0 = Instant::now();
        let r = sm4::gcm_open(&keys, &nonce, b"aad", black_box(&mut buf), black_box(bad));
        let dt = t0.elapsed().as_nanos() as f64;
        assert!(r.is_err());
        times.push((*class, dt));
    }
    // Crop the slowest 10% (interrupts, preemption), as dudect does with percentiles.
    let mut sorted: Vec<f64> = times.iter().map(|x| x.1).collect();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let cut = sorted[sorted.len() * 9 / 10];
    for &(c, dt) in &times {
        if dt <= cut {
            w.push(c, dt);
        }
    }
    let t = w.t();
    println!(
        "sm4 backend {}: gcm_open wrong-tag timing, first-byte-wrong mean {:.1} ns vs random-wrong mean {:.1} ns, n = {:.0}/{:.0}, Welch t = {:.2} ({})",
        sm4::active_backend(),
        w.mean[0],
        w.mean[1],
        w.n[0],
        w.n[1],
        t,
        if t.abs() < 4.5 { "no leak detected" } else { "LEAK SUSPECTED" }
    );
}
