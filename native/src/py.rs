//! The only pyo3 glue of the crate: argument conversion, GIL release, errors.
//! Every function here is a thin wrapper over a plain-Rust module.

use pyo3::prelude::*;

/// Version of the native module (the crate version).
#[pyfunction]
fn version() -> &'static str {
    crate::VERSION
}

/// "release" or "debug".
#[pyfunction]
fn build_profile() -> &'static str {
    crate::BUILD_PROFILE
}

/// CPU features detected at run time, name -> bool, in a stable order.
#[pyfunction]
fn cpu_features() -> Vec<(&'static str, bool)> {
    crate::cpu::detected()
}

/// True when BIDKERNEL_FORCE_PORTABLE forces the portable code paths.
#[pyfunction]
fn portable_forced() -> bool {
    crate::cpu::portable_forced()
}

fn register_info(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(build_profile, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_features, m)?)?;
    m.add_function(wrap_pyfunction!(portable_forced, m)?)?;
    Ok(())
}

// ===================================================================== SM3 / HMAC-SM3

/// SM3 digest of `data` (GB/T 32905). Large inputs are hashed with the GIL released.
#[pyfunction]
fn sm3_digest(py: Python<'_>, data: &[u8]) -> [u8; 32] {
    if data.len() >= 1 << 16 {
        py.detach(|| crate::sm3::digest(data))
    } else {
        crate::sm3::digest(data)
    }
}

fn register_sm3(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sm3_digest, m)?)?;
    Ok(())
}

// ===================================================================== SM4

fn register_sm4(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}

// ===================================================================== SM2

fn register_sm2(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}

// ===================================================================== envelopes (GM/T 0010)

fn register_envelope(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}

// ===================================================================== module

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    register_info(m)?;
    register_sm3(m)?;
    register_sm4(m)?;
    register_sm2(m)?;
    register_envelope(m)?;
    Ok(())
}
