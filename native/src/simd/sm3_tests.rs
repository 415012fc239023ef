//! SM3 kernel tests: GB/T 32905 vectors and differential tests against RustCrypto's `sm3`, on
//! every backend this CPU supports (each called explicitly).

use super::sm3::*;
use super::sm4_tests::{vectors, Rng};
use sm3::Digest;

fn reference(m: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(m).into()
}

#[test]
fn gbt32905_vectors_on_every_backend() {
    let v = vectors("sm3_gbt32905.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    let msgs: Vec<Vec<u8>> = cases
        .iter()
        .map(|c| hex::decode(c["msg"].as_str().unwrap()).unwrap())
        .collect();
    let want: Vec<Vec<u8>> = cases
        .iter()
        .map(|c| hex::decode(c["digest"].as_str().unwrap()).unwrap())
        .collect();
    for b in Backend::available() {
        for (m, w) in msgs.iter().zip(&want) {
            assert_eq!(digest_with(b, m).to_vec(), *w, "{b:?}");
        }
    }
    let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    for b in MbBackend::available() {
        let got = digest_many_with(b, &refs);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.to_vec(), *w, "{b:?}");
        }
    }
}

#[test]
fn single_stream_differential_all_small_lengths_and_random() {
    let mut rng = Rng::new(11);
    let data = rng.bytes(70_000);
    for b in Backend::available() {
        for n in 0..300 {
            let off = n % 7;
            let m = &data[off..off + n];
            assert_eq!(digest_with(b, m), reference(m), "{b:?} n={n}");
        }
        // Every block count from 0 to 40 (the assembly loops over blocks and loads the next
        // block's words ahead), with both one- and two-block paddings.
        for blocks in 0..=40 {
            for extra in [0, 55, 56] {
                let m = &data[..64 * blocks + extra];
                assert_eq!(digest_with(b, m), reference(m), "{b:?} len={}", m.len());
            }
        }
        for _ in 0..100 {
            let n = rng.below(60_000);
            let off = rng.below(64);
            let m = &data[off..off + n];
            assert_eq!(digest_with(b, m), reference(m), "{b:?} n={n}");
        }
    }
    assert_eq!(digest(b"abc"), reference(b"abc"));
}

#[test]
fn multi_buffer_differential_mixed_lengths_and_batch_sizes() {
    let mut rng = Rng::new(12);
    let data = rng.bytes(40_000);
    for b in MbBackend::available() {
        for round in 0..60 {
            let count = match round {
                0 => 0,
                1 => 1,
                2 => 16,
                3 => 17,
                _ => rng.below(50),
            };
            let msgs: Vec<&[u8]> = (0..count)
                .map(|_| {
                    let n = match rng.below(4) {
                        0 => rng.below(130),
                        1 => 64 * rng.below(8) + [0, 55, 56, 63][rng.below(4)],
                        _ => rng.below(9000),
                    };
                    let off = rng.below(100);
                    &data[off..off + n]
                })
                .collect();
            let got = digest_many_with(b, &msgs);
            assert_eq!(got.len(), msgs.len());
            for (g, m) in got.iter().zip(&msgs) {
                assert_eq!(*g, reference(m), "{b:?} len={}", m.len());
            }
        }
    }
    assert_eq!(digest_many(&[b"abc"]), vec![reference(b"abc")]);
    assert!([
        "asm-bmi2-avx512vl",
        "asm-bmi2-avx",
        "x86-64-bmi2",
        "scalar",
        "portable"
    ]
    .contains(&active_backend()));
    assert!(["avx512-x16", "avx2-x8", "serial"].contains(&active_mb_backend()));
}

#[test]
fn incremental_hasher_matches_reference_for_any_split() {
    let mut rng = Rng::new(13);
    let data = rng.bytes(20_000);
    for b in Backend::available() {
        for _ in 0..150 {
            let n = rng.below(data.len());
            let m = &data[..n];
            let mut h = Hasher::with_backend(b);
            let mut rest = m;
            while !rest.is_empty() {
                let k = match rng.below(3) {
                    0 => rng.below(70),
                    1 => 64 * rng.below(20),
                    _ => rng.below(3000),
                }
                .min(rest.len());
                h.update(&rest[..k]);
                rest = &rest[k..];
            }
            assert_eq!(h.finalize(), reference(m), "{b:?} n={n}");
        }
    }
    let mut h = Hasher::new();
    h.update(b"ab");
    h.update(b"c");
    assert_eq!(h.finalize(), reference(b"abc"));
    assert_eq!(Hasher::default().finalize(), reference(b""));
}

/// The streaming multi-buffer hasher agrees with RustCrypto's SM3 on every backend: lanes of
/// different lengths (0 to several kernel widths), fed in uneven rounds of whole blocks, some
/// lanes idle in some rounds, finished with a tail of every length class.
#[test]
fn multi_hasher_streams_like_the_reference() {
    let mut rng = Rng::new(0x5eed_3b0f);
    for backend in MbBackend::available() {
        for lanes in [1usize, 3, 8, 16, 17, 32, 40] {
            let msgs: Vec<Vec<u8>> = (0..lanes)
                .map(|l| {
                    let n = (l * 997 + rng.below(5000)) % 9000;
                    rng.bytes(n)
                })
                .collect();
            let mut h = MultiHasher::with_backend(backend, lanes);
            let mut pos = vec![0usize; lanes];
            for round in 0..6 {
                let take: Vec<usize> = (0..lanes)
                    .map(|l| {
                        let left = (msgs[l].len() - pos[l]) / 64;
                        if round < 5 && (l + round) % 3 == 0 {
                            0 // this lane idles this round
                        } else {
                            rng.below(40).min(left)
                        }
                    })
                    .collect();
                let data: Vec<&[u8]> = (0..lanes)
                    .map(|l| &msgs[l][pos[l]..pos[l] + 64 * take[l]])
                    .collect();
                h.update_blocks(&data);
                for l in 0..lanes {
                    pos[l] += 64 * take[l];
                }
            }
            for l in 0..lanes {
                assert_eq!(
                    h.finalize(l, &msgs[l][pos[l]..]),
                    reference(&msgs[l]),
                    "{backend:?} lanes={lanes} lane={l} len={}",
                    msgs[l].len()
                );
            }
        }
    }
}
