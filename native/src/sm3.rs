//! SM3 hash (GB/T 32905-2016) over RustCrypto's `sm3`.

use sm3::{Digest, Sm3};

/// Output length in bytes (GB/T 32905 §4).
pub const DIGEST_LEN: usize = 32;

/// One-shot SM3 of `data` (GB/T 32905 §5).
pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
    Sm3::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbt32905_example_1_abc() {
        // GB/T 32905-2016 Appendix A.1; the full vector file is run by tests/vectors.rs.
        assert_eq!(
            hex::encode(digest(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }
}
