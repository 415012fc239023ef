//! Runtime CPU-feature detection: the native kernels pick their fast paths from this, and
//! `bidkernel --version` reports it so benchmark figures can be tied to the hardware.

/// The environment variable that forces the portable (non-SIMD) code paths everywhere.
pub const FORCE_PORTABLE_ENV: &str = "BIDKERNEL_FORCE_PORTABLE";

/// Names of the x86-64 features relevant to SM3/SM4/SM2 kernels, in a stable order.
pub const FEATURE_NAMES: &[&str] = &[
    "sse2",
    "ssse3",
    "sse4.1",
    "aes",
    "pclmulqdq",
    "sha",
    "avx",
    "avx2",
    "bmi1",
    "bmi2",
    "adx",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "gfni",
    "vaes",
    "vpclmulqdq",
];

/// Returns `(name, detected)` for every feature in [`FEATURE_NAMES`].
pub fn detected() -> Vec<(&'static str, bool)> {
    FEATURE_NAMES.iter().map(|&n| (n, has(n))).collect()
}

/// True when the portable path is forced by the environment.
pub fn portable_forced() -> bool {
    std::env::var_os(FORCE_PORTABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Whether the running CPU has feature `name` (false for unknown names or non-x86 targets).
pub fn has(name: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match name {
            "sse2" => std::arch::is_x86_feature_detected!("sse2"),
            "ssse3" => std::arch::is_x86_feature_detected!("ssse3"),
            "sse4.1" => std::arch::is_x86_feature_detected!("sse4.1"),
            "aes" => std::arch::is_x86_feature_detected!("aes"),
            "pclmulqdq" => std::arch::is_x86_feature_detected!("pclmulqdq"),
            "sha" => std::arch::is_x86_feature_detected!("sha"),
            "avx" => std::arch::is_x86_feature_detected!("avx"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "bmi1" => std::arch::is_x86_feature_detected!("bmi1"),
            "bmi2" => std::arch::is_x86_feature_detected!("bmi2"),
            "adx" => std::arch::is_x86_feature_detected!("adx"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
            "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
            "gfni" => std::arch::is_x86_feature_detected!("gfni"),
            "vaes" => std::arch::is_x86_feature_detected!("vaes"),
            "vpclmulqdq" => std::arch::is_x86_feature_detected!("vpclmulqdq"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_feature_is_reported_once() {
        let d = detected();
        assert_eq!(d.len(), FEATURE_NAMES.len());
        assert!(!has("no-such-feature"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_is_baseline_on_x86_64() {
        assert!(has("sse2"));
    }
}
