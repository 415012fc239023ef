//! bidkernel native module.
//!
//! Algorithms live in plain-Rust modules with `cargo test`; `py.rs` is the only file that
//! touches pyo3 (compiled with the `python` feature, which maturin enables).

pub mod cpu;
pub mod envelope;
pub mod gm_sm2;
pub mod simd;
pub mod sm3;
pub mod sm4;

#[cfg(feature = "python")]
mod py;

/// Crate version, as exposed to Python by `bidkernel._native.version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// "release" or "debug": the optimisation profile this module was built with.
pub const BUILD_PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};
