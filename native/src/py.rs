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

/// Active symmetric-crypto backends, key -> name: `sm4` (bulk SM4 paths), `sm3` (single
/// stream), `sm3_multi` (many-buffer digest).
#[pyfunction]
fn crypto_backends() -> std::collections::BTreeMap<&'static str, &'static str> {
    std::collections::BTreeMap::from([
        ("sm4", crate::sm4::active_backend()),
        ("sm3", crate::sm3::active_backend()),
        ("sm3_multi", crate::sm3::active_mb_backend()),
    ])
}

fn register_info(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(build_profile, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_features, m)?)?;
    m.add_function(wrap_pyfunction!(portable_forced, m)?)?;
    m.add_function(wrap_pyfunction!(crypto_backends, m)?)?;
    Ok(())
}

// ===================================================================== SM3 / HMAC-SM3

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::types::{PyBytes, PyType};

/// Inputs at least this long are processed with the GIL released.
const DETACH_MIN: usize = 1 << 16;

/// SM3 digest of `data` (GB/T 32905). Large inputs are hashed with the GIL released.
#[pyfunction]
fn sm3_digest(py: Python<'_>, data: &[u8]) -> [u8; 32] {
    if data.len() >= DETACH_MIN {
        py.detach(|| crate::sm3::digest(data))
    } else {
        crate::sm3::digest(data)
    }
}

/// Incremental SM3 hasher.
#[pyclass(name = "Sm3Hasher", module = "bidkernel._native")]
#[derive(Clone)]
struct Sm3Hasher {
    inner: crate::sm3::Hasher,
}

#[pymethods]
impl Sm3Hasher {
    #[new]
    fn new() -> Self {
        Sm3Hasher {
            inner: crate::sm3::Hasher::new(),
        }
    }

    /// Absorbs `data` (GIL released for large inputs).
    fn update(&mut self, py: Python<'_>, data: &[u8]) {
        let inner = &mut self.inner;
        if data.len() >= DETACH_MIN {
            py.detach(|| inner.update(data))
        } else {
            inner.update(data)
        }
    }

    /// Digest of everything absorbed so far (the hasher stays usable).
    fn digest(&self) -> [u8; 32] {
        self.inner.digest()
    }

    /// An independent copy of the current state.
    fn copy(&self) -> Self {
        self.clone()
    }
}

/// SM3 of a file, streamed with the GIL released.
#[pyfunction]
fn sm3_file(py: Python<'_>, path: PathBuf) -> PyResult<[u8; 32]> {
    Ok(py.detach(|| crate::sm3::digest_file(&path))?)
}

/// SM3 of many buffers: one call, GIL released once, rayon across cores.
#[pyfunction]
fn sm3_digest_many<'py>(py: Python<'py>, buffers: Vec<Bound<'py, PyBytes>>) -> Vec<[u8; 32]> {
    let slices: Vec<&[u8]> = buffers.iter().map(|b| b.as_bytes()).collect();
    py.detach(|| crate::sm3::digest_many(&slices))
}

/// SM3 of many files: one call, GIL released once; an OSError instance for each unreadable file.
#[pyfunction]
fn sm3_files(py: Python<'_>, paths: Vec<PathBuf>) -> Vec<Py<PyAny>> {
    let results = py.detach(|| crate::sm3::digest_files(&paths));
    results
        .into_iter()
        .map(|r| match r {
            Ok(d) => PyBytes::new(py, &d).into_any().unbind(),
            Err(e) => PyErr::from(e).into_value(py).into_any(),
        })
        .collect()
}

/// HMAC-SM3 (RFC 2104 with SM3).
#[pyfunction]
fn hmac_sm3(py: Python<'_>, key: &[u8], data: &[u8]) -> [u8; 32] {
    if data.len() >= DETACH_MIN {
        py.detach(|| crate::sm3::hmac(key, data))
    } else {
        crate::sm3::hmac(key, data)
    }
}

/// Constant-time check of a (possibly left-truncated, >= 16 bytes) HMAC-SM3 tag.
#[pyfunction]
fn hmac_sm3_verify(py: Python<'_>, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    if data.len() >= DETACH_MIN {
        py.detach(|| crate::sm3::hmac_verify(key, data, tag))
    } else {
        crate::sm3::hmac_verify(key, data, tag)
    }
}

fn register_sm3(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sm3_digest, m)?)?;
    m.add_class::<Sm3Hasher>()?;
    m.add_function(wrap_pyfunction!(sm3_file, m)?)?;
    m.add_function(wrap_pyfunction!(sm3_digest_many, m)?)?;
    m.add_function(wrap_pyfunction!(sm3_files, m)?)?;
    m.add_function(wrap_pyfunction!(hmac_sm3, m)?)?;
    m.add_function(wrap_pyfunction!(hmac_sm3_verify, m)?)?;
    Ok(())
}

// ===================================================================== SM4

use crate::sm4::{Error as Sm4Error, Mode as Sm4Mode};

/// An exception class of `bidkernel.crypto.errors` (ValueError if that module cannot be loaded).
fn crypto_exc(py: Python<'_>, name: &str, msg: String) -> PyErr {
    let cls = py
        .import("bidkernel.crypto.errors")
        .and_then(|m| m.getattr(name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match cls {
        Ok(c) => PyErr::from_type(c, msg),
        Err(_) => PyValueError::new_err(msg),
    }
}

/// Maps SM4 errors to Python; messages never contain key material.
fn sm4_err(py: Python<'_>, e: Sm4Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Sm4Error::InvalidKeyLength => crypto_exc(py, "InvalidKey", msg),
        Sm4Error::DecryptionFailed => crypto_exc(py, "InvalidPadding", msg),
        Sm4Error::InvalidTag => crypto_exc(py, "InvalidTag", msg),
        Sm4Error::DigestMismatch => crypto_exc(py, "DecryptionError", msg),
        Sm4Error::Io(io) => PyErr::from(io),
        Sm4Error::InvalidIvLength
        | Sm4Error::InvalidItem
        | Sm4Error::InvalidTagLength
        | Sm4Error::InvalidLength
        | Sm4Error::UnknownMode => PyValueError::new_err(msg),
    }
}

/// Runs `f` with the GIL released when `len` is large, and maps its error.
fn sm4_run<T: Send>(
    py: Python<'_>,
    len: usize,
    f: impl FnOnce() -> Result<T, Sm4Error> + Send,
) -> PyResult<T> {
    let r = if len >= DETACH_MIN { py.detach(f) } else { f() };
    r.map_err(|e| sm4_err(py, e))
}

/// Runs `f` over a new `bytes` object that starts as a copy of `data` (GIL released for large
/// inputs). One allocation, written in place: the `Vec` the one-call functions return would be a
/// second buffer and a second copy, and a fresh 1 MiB allocation costs 256 page faults.
fn sm4_in_bytes<'py>(
    py: Python<'py>,
    data: &[u8],
    f: impl FnOnce(&mut [u8]) -> Result<(), Sm4Error> + Send,
) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, data.len(), |buf| {
        buf.copy_from_slice(data);
        let r = if data.len() >= DETACH_MIN {
            py.detach(|| f(buf))
        } else {
            f(buf)
        };
        r.map_err(|e| sm4_err(py, e))
    })
}

fn sm4_mode(mode: &str) -> PyResult<Sm4Mode> {
    Sm4Mode::parse(mode).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// SM4 encryption of one 16-byte block.
#[pyfunction]
fn sm4_encrypt_block(py: Python<'_>, key: &[u8], block: &[u8]) -> PyResult<[u8; 16]> {
    sm4_run(py, 0, || crate::sm4::encrypt_block(key, block))
}

/// SM4 decryption of one 16-byte block.
#[pyfunction]
fn sm4_decrypt_block(py: Python<'_>, key: &[u8], block: &[u8]) -> PyResult<[u8; 16]> {
    sm4_run(py, 0, || crate::sm4::decrypt_block(key, block))
}

/// SM4-CBC encryption (PKCS#7 when `padding`).
#[pyfunction]
fn sm4_cbc_encrypt(
    py: Python<'_>,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: bool,
) -> PyResult<Vec<u8>> {
    sm4_run(py, data.len(), || {
        crate::sm4::cbc_encrypt(key, iv, data, padding)
    })
}

/// SM4-CBC decryption (PKCS#7 removal when `padding`).
#[pyfunction]
fn sm4_cbc_decrypt(
    py: Python<'_>,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    padding: bool,
) -> PyResult<Vec<u8>> {
    sm4_run(py, data.len(), || {
        crate::sm4::cbc_decrypt(key, iv, data, padding)
    })
}

/// SM4-CTR (128-bit big-endian counter); encryption and decryption alike.
#[pyfunction]
fn sm4_ctr<'py>(
    py: Python<'py>,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let mut c = crate::sm4::Ctr::new(key, iv).map_err(|e| sm4_err(py, e))?;
    sm4_in_bytes(py, data, |buf| {
        c.apply(buf);
        Ok(())
    })
}

/// SM4-GCM encryption: (ciphertext, 16-byte tag).
#[pyfunction]
fn sm4_gcm_encrypt<'py>(
    py: Python<'py>,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
) -> PyResult<(Bound<'py, PyBytes>, [u8; 16])> {
    let mut tag = [0u8; 16];
    let ct = sm4_in_bytes(py, data, |buf| {
        tag = crate::sm4::gcm_encrypt_in_place(key, iv, aad, buf)?;
        Ok(())
    })?;
    Ok((ct, tag))
}

/// SM4-GCM decryption; InvalidTag when the tag does not match.
#[pyfunction]
fn sm4_gcm_decrypt<'py>(
    py: Python<'py>,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    // On a wrong tag the buffer is zeroed (gcm_decrypt_in_place) and the object dropped.
    sm4_in_bytes(py, data, |buf| {
        crate::sm4::gcm_decrypt_in_place(key, iv, aad, buf, tag)
    })
}

/// SM4-CCM encryption: (ciphertext, tag of `tag_len` bytes).
#[pyfunction]
fn sm4_ccm_encrypt(
    py: Python<'_>,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
    tag_len: usize,
) -> PyResult<(Vec<u8>, Vec<u8>)> {
    sm4_run(py, data.len(), || {
        crate::sm4::ccm_encrypt(key, nonce, aad, data, tag_len)
    })
}

/// SM4-CCM decryption; InvalidTag when the tag does not match.
#[pyfunction]
fn sm4_ccm_decrypt(
    py: Python<'_>,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> PyResult<Vec<u8>> {
    sm4_run(py, data.len(), || {
        crate::sm4::ccm_decrypt(key, nonce, aad, data, tag)
    })
}

/// Streams file `input` encrypted into `output` (atomically); returns bytes written.
#[pyfunction]
fn sm4_encrypt_file(
    py: Python<'_>,
    mode: &str,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    input: PathBuf,
    output: PathBuf,
) -> PyResult<u64> {
    let mode = sm4_mode(mode)?;
    sm4_run(py, usize::MAX, || {
        crate::sm4::encrypt_file(mode, key, iv, aad, &input, &output)
    })
}

/// Streams file `input` decrypted into `output`, which appears only if padding/tag verify.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn sm4_decrypt_file(
    py: Python<'_>,
    mode: &str,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag: Option<&[u8]>,
    input: PathBuf,
    output: PathBuf,
) -> PyResult<u64> {
    let mode = sm4_mode(mode)?;
    sm4_run(py, usize::MAX, || {
        crate::sm4::decrypt_file(mode, key, iv, aad, tag, &input, &output)
    })
}

type BatchTuple<'py> = (
    Bound<'py, PyBytes>,
    String,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Option<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    Option<PathBuf>,
    Option<PathBuf>,
    Option<Bound<'py, PyBytes>>,
);

/// Batch SM4 decryption. Each item: (key, mode, iv, aad, tag|None, data|None, in_path|None,
/// out_path|None, expect_sm3|None). One call, GIL released once, rayon across cores. Result per item: plaintext
/// bytes, bytes written (int) when out_path is set, or an exception instance.
#[pyfunction]
fn sm4_decrypt_batch<'py>(
    py: Python<'py>,
    items: Vec<BatchTuple<'py>>,
) -> PyResult<Vec<Py<PyAny>>> {
    let mut objs: Vec<Option<Py<PyAny>>> = Vec::with_capacity(items.len());
    let mut good = Vec::with_capacity(items.len());
    let mut slots = Vec::with_capacity(items.len());
    for (key, mode, iv, aad, tag, data, in_path, out_path, expect_sm3) in &items {
        let input = match (data, in_path) {
            (Some(d), None) => Ok(crate::sm4::Input::Data(d.as_bytes())),
            (None, Some(p)) => Ok(crate::sm4::Input::File(p.clone())),
            _ => Err(Sm4Error::InvalidItem),
        };
        match (Sm4Mode::parse(mode), input) {
            (Ok(mode), Ok(input)) => {
                slots.push(objs.len());
                objs.push(None);
                good.push(crate::sm4::BatchItem {
                    key: key.as_bytes(),
                    mode,
                    iv: iv.as_bytes(),
                    aad: aad.as_bytes(),
                    tag: tag.as_ref().map(|t| t.as_bytes()),
                    input,
                    output: out_path.clone(),
                    expect_sm3: expect_sm3.as_ref().map(|d| d.as_bytes()),
                });
            }
            (Err(e), _) | (_, Err(e)) => objs.push(Some(sm4_err(py, e).into_value(py).into_any())),
        }
    }
    // In-memory items decrypt straight into `bytes` objects allocated here (uninitialised, pages
    // not yet touched): the worker threads write each plaintext once, and nothing is copied again
    // under the GIL afterwards (a `Vec` per item plus a copy into `bytes` kept the batch at one
    // core's speed: page faults and the serial copy; docs/performance.md, batch scaling).
    let mut outs: Vec<Option<Bound<'py, PyBytes>>> = Vec::with_capacity(good.len());
    let mut bufs: Vec<Option<&mut [u8]>> = Vec::with_capacity(good.len());
    for it in &good {
        let cap = match (&it.input, &it.output) {
            (crate::sm4::Input::Data(d), None) => {
                crate::sm4::plaintext_capacity(it.mode, it.tag, d)
            }
            _ => None,
        };
        match cap.map(|n| uninit_bytes(py, n)).transpose()? {
            Some((b, buf)) => {
                outs.push(Some(b));
                bufs.push(Some(buf));
            }
            None => {
                outs.push(None);
                bufs.push(None);
            }
        }
    }
    let done = py.detach(|| crate::sm4::decrypt_batch_into(&good, bufs));
    for ((slot, r), out) in slots.into_iter().zip(done).zip(outs) {
        objs[slot] = Some(match r {
            Ok(crate::sm4::BatchResult::InBuffer(n)) => {
                let b = out.expect("a buffer was given");
                if n == b.as_bytes().len() {
                    b.into_any().unbind()
                } else {
                    // CBC without its padding: the (at most 16 bytes) shorter copy.
                    PyBytes::new(py, &b.as_bytes()[..n]).into_any().unbind()
                }
            }
            Ok(crate::sm4::BatchResult::Output(crate::sm4::Output::Data(d))) => {
                PyBytes::new(py, &d).into_any().unbind()
            }
            Ok(crate::sm4::BatchResult::Output(crate::sm4::Output::Written(n))) => {
                n.into_pyobject(py).expect("int").into_any().unbind()
            }
            Err(e) => sm4_err(py, e).into_value(py).into_any(),
        });
    }
    Ok(objs
        .into_iter()
        .map(|o| o.expect("every slot filled"))
        .collect())
}

/// A new `bytes` object of `len` bytes whose contents are not initialised yet, and its buffer.
///
/// The buffer is only valid while the object lives and nobody else holds it: the caller fills it
/// before handing the object out (a `bytes` is immutable once shared).
fn uninit_bytes<'py>(
    py: Python<'py>,
    len: usize,
) -> PyResult<(Bound<'py, PyBytes>, &'py mut [u8])> {
    // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new reference to a fresh object with
    // room for n bytes, or NULL with MemoryError set (returned as the error); its buffer stays at a fixed address for the object's life, which the
    // returned `Bound` keeps. For len == 0 CPython may return the shared empty object: the slice
    // is then empty and never written.
    unsafe {
        let obj =
            pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as pyo3::ffi::Py_ssize_t);
        let b = Bound::from_owned_ptr_or_err(py, obj)?.cast_into_unchecked::<PyBytes>();
        let ptr = pyo3::ffi::PyBytes_AsString(b.as_ptr()) as *mut u8;
        let buf = if len == 0 {
            &mut []
        } else {
            std::slice::from_raw_parts_mut(ptr, len)
        };
        Ok((b, buf))
    }
}

fn finished() -> PyErr {
    PyValueError::new_err("this SM4 stream is already finalized")
}

/// Streaming SM4-CBC encryption (PKCS#7 when `padding`).
#[pyclass(name = "Sm4CbcEncryptor", module = "bidkernel._native")]
struct Sm4CbcEncryptor {
    inner: Option<crate::sm4::CbcEncryptor>,
}

#[pymethods]
impl Sm4CbcEncryptor {
    #[new]
    fn new(py: Python<'_>, key: &[u8], iv: &[u8], padding: bool) -> PyResult<Self> {
        let inner = crate::sm4::CbcEncryptor::new(key, iv, padding).map_err(|e| sm4_err(py, e))?;
        Ok(Sm4CbcEncryptor { inner: Some(inner) })
    }

    /// Ciphertext of every block completed so far.
    fn update(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<Vec<u8>> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        sm4_run(py, data.len(), || Ok(inner.update(data)))
    }

    /// The last (padded) block; the stream cannot be used afterwards.
    fn finalize(&mut self, py: Python<'_>) -> PyResult<Vec<u8>> {
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.finalize().map_err(|e| sm4_err(py, e))
    }
}

/// Streaming SM4-CBC decryption (PKCS#7 removal when `padding`; the last block is held back).
#[pyclass(name = "Sm4CbcDecryptor", module = "bidkernel._native")]
struct Sm4CbcDecryptor {
    inner: Option<crate::sm4::CbcDecryptor>,
}

#[pymethods]
impl Sm4CbcDecryptor {
    #[new]
    fn new(py: Python<'_>, key: &[u8], iv: &[u8], padding: bool) -> PyResult<Self> {
        let inner = crate::sm4::CbcDecryptor::new(key, iv, padding).map_err(|e| sm4_err(py, e))?;
        Ok(Sm4CbcDecryptor { inner: Some(inner) })
    }

    /// Plaintext that is final so far.
    fn update(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<Vec<u8>> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        sm4_run(py, data.len(), || Ok(inner.update(data)))
    }

    /// The rest of the plaintext, padding checked in constant time (InvalidPadding otherwise).
    fn finalize(&mut self, py: Python<'_>) -> PyResult<Vec<u8>> {
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.finalize().map_err(|e| sm4_err(py, e))
    }
}

/// Streaming SM4-CTR (encryption and decryption alike).
#[pyclass(name = "Sm4Ctr", module = "bidkernel._native")]
struct Sm4Ctr {
    inner: crate::sm4::Ctr,
}

#[pymethods]
impl Sm4Ctr {
    #[new]
    fn new(py: Python<'_>, key: &[u8], iv: &[u8]) -> PyResult<Self> {
        let inner = crate::sm4::Ctr::new(key, iv).map_err(|e| sm4_err(py, e))?;
        Ok(Sm4Ctr { inner })
    }

    /// `data` XORed with the next keystream bytes.
    fn update(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<Vec<u8>> {
        let inner = &mut self.inner;
        sm4_run(py, data.len(), || {
            let mut out = data.to_vec();
            inner.apply(&mut out);
            Ok(out)
        })
    }
}

/// Streaming SM4-GCM. Encryption: update_aad*, update*, finalize() -> tag. Decryption:
/// update_aad*, update*, verify(tag); plaintext from update() must not be used before verify().
#[pyclass(name = "Sm4Gcm", module = "bidkernel._native")]
struct Sm4Gcm {
    inner: Option<crate::sm4::Gcm>,
    encrypting: bool,
}

#[pymethods]
impl Sm4Gcm {
    #[new]
    fn new(py: Python<'_>, key: &[u8], iv: &[u8], encrypt: bool) -> PyResult<Self> {
        let inner = if encrypt {
            crate::sm4::Gcm::encryptor(key, iv)
        } else {
            crate::sm4::Gcm::decryptor(key, iv)
        }
        .map_err(|e| sm4_err(py, e))?;
        Ok(Sm4Gcm {
            inner: Some(inner),
            encrypting: encrypt,
        })
    }

    /// Adds associated data (before the first update).
    fn update_aad(&mut self, py: Python<'_>, aad: &[u8]) -> PyResult<()> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        inner.update_aad(aad).map_err(|e| sm4_err(py, e))
    }

    /// Encrypts or decrypts `data`.
    fn update(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<Vec<u8>> {
        let inner = self.inner.as_mut().ok_or_else(finished)?;
        sm4_run(py, data.len(), || {
            let mut out = data.to_vec();
            inner.update(&mut out)?;
            Ok(out)
        })
    }

    /// Encryption: the 16-byte tag.
    fn finalize(&mut self) -> PyResult<[u8; 16]> {
        if !self.encrypting {
            return Err(PyValueError::new_err(
                "a GCM decryption stream ends with verify(tag)",
            ));
        }
        Ok(self.inner.take().ok_or_else(finished)?.finalize())
    }

    /// Decryption: checks the tag in constant time; InvalidTag on mismatch.
    fn verify(&mut self, py: Python<'_>, tag: &[u8]) -> PyResult<()> {
        if self.encrypting {
            return Err(PyValueError::new_err(
                "a GCM encryption stream ends with finalize()",
            ));
        }
        let inner = self.inner.take().ok_or_else(finished)?;
        inner.verify(tag).map_err(|e| sm4_err(py, e))
    }
}

fn register_sm4(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sm4_encrypt_block, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_decrypt_block, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_cbc_encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_cbc_decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_ctr, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_gcm_encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_gcm_decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_ccm_encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_ccm_decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_encrypt_file, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_decrypt_file, m)?)?;
    m.add_function(wrap_pyfunction!(sm4_decrypt_batch, m)?)?;
    m.add_class::<Sm4CbcEncryptor>()?;
    m.add_class::<Sm4CbcDecryptor>()?;
    m.add_class::<Sm4Ctr>()?;
    m.add_class::<Sm4Gcm>()?;
    Ok(())
}

// ===================================================================== SM2

mod sm2_glue {
    use crate::gm_sm2::{self, batch, dsa, keys, pke, Sm2Error};
    use pyo3::exceptions::{PyOSError, PyValueError};
    use pyo3::prelude::*;
    use pyo3::pybacked::PyBackedBytes;
    use pyo3::types::{PyBytes, PyList, PyString};

    pyo3::import_exception!(bidkernel.crypto.errors, InvalidKey);
    pyo3::import_exception!(bidkernel.crypto.sm2, Sm2DecryptionError);

    fn err(e: Sm2Error) -> PyErr {
        match e {
            Sm2Error::InvalidKey(m) => InvalidKey::new_err(m),
            Sm2Error::InvalidInput(m) => PyValueError::new_err(m),
            Sm2Error::Decrypt(r) => Sm2DecryptionError::new_err(r.code()),
            Sm2Error::Rng => PyOSError::new_err(e.to_string()),
        }
    }

    fn sig_fmt(fmt: &str) -> PyResult<dsa::SigFormat> {
        dsa::SigFormat::parse(fmt).map_err(err)
    }

    fn ct_fmt(fmt: &str) -> PyResult<pke::CipherFormat> {
        pke::CipherFormat::parse(fmt).map_err(err)
    }

    fn point(public: &[u8]) -> PyResult<::sm2::PublicKey> {
        keys::parse_point(public).map_err(err)
    }

    /// An SM2 private key (GB/T 32918.1). Opaque: the scalar never leaves native memory except
    /// through an explicit PKCS#8/SEC1 export, and it is zeroized when the object is freed.
    #[pyclass(frozen, name = "Sm2PrivateKey", module = "bidkernel._native")]
    pub struct Sm2PrivateKey {
        pub(super) inner: keys::PrivateKey,
    }

    #[pymethods]
    impl Sm2PrivateKey {
        /// Fresh key from the OS CSPRNG.
        #[staticmethod]
        fn generate() -> PyResult<Self> {
            Ok(Self {
                inner: keys::PrivateKey::generate().map_err(err)?,
            })
        }

        /// PKCS#8 PrivateKeyInfo or SEC1 ECPrivateKey, DER.
        #[staticmethod]
        fn from_der(data: &[u8]) -> PyResult<Self> {
            Ok(Self {
                inner: keys::PrivateKey::from_der(data).map_err(err)?,
            })
        }

        /// PEM text: PRIVATE KEY (PKCS#8) or EC PRIVATE KEY (SEC1).
        #[staticmethod]
        fn from_pem(data: &[u8]) -> PyResult<Self> {
            let text = std::str::from_utf8(data)
                .map_err(|_| InvalidKey::new_err("PEM key is not ASCII text"))?;
            Ok(Self {
                inner: keys::PrivateKey::from_pem(text).map_err(err)?,
            })
        }

        /// Big-endian 32-byte scalar d in [1, n-2].
        #[staticmethod]
        fn from_scalar_bytes(data: &[u8]) -> PyResult<Self> {
            Ok(Self {
                inner: keys::PrivateKey::from_bytes(data).map_err(err)?,
            })
        }

        /// Public key as the 65-byte uncompressed SEC1 point 04||x||y.
        fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
            PyBytes::new(py, self.inner.public_bytes())
        }

        /// Hex of the first 8 bytes of SM3(public point).
        fn fingerprint(&self) -> String {
            self.inner.fingerprint()
        }

        /// PKCS#8 PrivateKeyInfo, PEM (default) or DER.
        #[pyo3(signature = (pem = true))]
        fn to_pkcs8<'py>(&self, py: Python<'py>, pem: bool) -> PyResult<Bound<'py, PyBytes>> {
            if pem {
                Ok(PyBytes::new(
                    py,
                    self.inner.to_pkcs8_pem().map_err(err)?.as_bytes(),
                ))
            } else {
                Ok(PyBytes::new(py, &self.inner.to_pkcs8_der().map_err(err)?))
            }
        }

        /// SEC1 ECPrivateKey, PEM (default) or DER.
        #[pyo3(signature = (pem = true))]
        fn to_sec1<'py>(&self, py: Python<'py>, pem: bool) -> PyResult<Bound<'py, PyBytes>> {
            if pem {
                Ok(PyBytes::new(
                    py,
                    self.inner.to_sec1_pem().map_err(err)?.as_bytes(),
                ))
            } else {
                Ok(PyBytes::new(py, &self.inner.to_sec1_der().map_err(err)?))
            }
        }

        fn __repr__(&self) -> String {
            format!(
                "<Sm2PrivateKey public_fingerprint={}>",
                self.inner.fingerprint()
            )
        }
    }

    /// Public key from SPKI (PEM or DER) or a SEC1 point, as 65 bytes 04||x||y.
    #[pyfunction]
    pub fn sm2_load_public_key<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let p = keys::load_public(data).map_err(err)?;
        Ok(PyBytes::new(py, &keys::encode_point(&p)))
    }

    /// SubjectPublicKeyInfo of a SEC1 point, PEM (default) or DER.
    #[pyfunction]
    #[pyo3(signature = (public, pem = true))]
    pub fn sm2_public_key_to_spki<'py>(
        py: Python<'py>,
        public: &[u8],
        pem: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let p = point(public)?;
        if pem {
            Ok(PyBytes::new(
                py,
                keys::public_to_spki_pem(&p).map_err(err)?.as_bytes(),
            ))
        } else {
            Ok(PyBytes::new(
                py,
                &keys::public_to_spki_der(&p).map_err(err)?,
            ))
        }
    }

    /// Z_A (GB/T 32918.2, 5.5).
    #[pyfunction]
    pub fn sm2_compute_z<'py>(
        py: Python<'py>,
        public: &[u8],
        id: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let p = point(public)?;
        Ok(PyBytes::new(py, &dsa::compute_z(&p, id).map_err(err)?))
    }

    /// Sign a message with an explicit ID.
    #[pyfunction]
    pub fn sm2_sign<'py>(
        py: Python<'py>,
        key: &Sm2PrivateKey,
        msg: &[u8],
        id: &[u8],
        fmt: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let f = sig_fmt(fmt)?;
        let sig = py.detach(|| dsa::sign(&key.inner, msg, id)).map_err(err)?;
        Ok(PyBytes::new(py, &sig.encode(f)))
    }

    /// Sign a precomputed e = SM3(Z||M).
    #[pyfunction]
    pub fn sm2_sign_digest<'py>(
        py: Python<'py>,
        key: &Sm2PrivateKey,
        e: &[u8],
        fmt: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let f = sig_fmt(fmt)?;
        let sig = py.detach(|| dsa::sign_digest(&key.inner, e)).map_err(err)?;
        Ok(PyBytes::new(py, &sig.encode(f)))
    }

    /// Verify a signature over a message; a malformed signature is False.
    #[pyfunction]
    pub fn sm2_verify(
        py: Python<'_>,
        public: &[u8],
        msg: &[u8],
        sig: &[u8],
        id: &[u8],
        fmt: &str,
    ) -> PyResult<bool> {
        let f = sig_fmt(fmt)?;
        let p = point(public)?;
        py.detach(|| dsa::verify_encoded(&p, msg, id, sig, f))
            .map_err(err)
    }

    /// Verify a signature over a precomputed e.
    #[pyfunction]
    pub fn sm2_verify_digest(
        py: Python<'_>,
        public: &[u8],
        e: &[u8],
        sig: &[u8],
        fmt: &str,
    ) -> PyResult<bool> {
        let f = sig_fmt(fmt)?;
        let p = point(public)?;
        match dsa::Signature::decode(sig, f) {
            Some(s) => py.detach(|| dsa::verify_digest(&p, e, &s)).map_err(err),
            None => {
                if e.len() != gm_sm2::FIELD_LEN {
                    return Err(PyValueError::new_err("digest e must be 32 bytes"));
                }
                Ok(false)
            }
        }
    }

    /// Encrypt (GB/T 32918.4) to a SEC1 public point.
    #[pyfunction]
    pub fn sm2_encrypt<'py>(
        py: Python<'py>,
        public: &[u8],
        plaintext: &[u8],
        fmt: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let f = ct_fmt(fmt)?;
        let p = point(public)?;
        let ct = py.detach(|| pke::encrypt(&p, plaintext, f)).map_err(err)?;
        Ok(PyBytes::new(py, &ct))
    }

    /// Decrypt; every failure raises Sm2DecryptionError(reason).
    #[pyfunction]
    pub fn sm2_decrypt<'py>(
        py: Python<'py>,
        key: &Sm2PrivateKey,
        ciphertext: &[u8],
        fmt: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let f = ct_fmt(fmt)?;
        let pt = py
            .detach(|| pke::decrypt(&key.inner, ciphertext, f))
            .map_err(err)?;
        Ok(PyBytes::new(py, &pt))
    }

    /// Decrypt and return (plaintext, x2 || y2): the decryption proof of this one ciphertext.
    #[pyfunction]
    pub fn sm2_decrypt_with_point<'py>(
        py: Python<'py>,
        key: &Sm2PrivateKey,
        ciphertext: &[u8],
        fmt: &str,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let f = ct_fmt(fmt)?;
        let (pt, point) = py
            .detach(|| pke::decrypt_with_point(&key.inner, ciphertext, f))
            .map_err(err)?;
        Ok((PyBytes::new(py, &pt), PyBytes::new(py, point.as_slice())))
    }

    /// Does the point x2 || y2 open the ciphertext to `plaintext`? (No key needed.)
    #[pyfunction]
    pub fn sm2_check_plaintext(
        ciphertext: &[u8],
        fmt: &str,
        plaintext: &[u8],
        point: &[u8],
    ) -> PyResult<bool> {
        let f = ct_fmt(fmt)?;
        pke::check_plaintext(ciphertext, f, plaintext, point).map_err(err)
    }

    /// Re-encode a ciphertext (C1 checked on the curve) without decrypting.
    #[pyfunction]
    pub fn sm2_convert_ciphertext<'py>(
        py: Python<'py>,
        ciphertext: &[u8],
        from_fmt: &str,
        to_fmt: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (a, b) = (ct_fmt(from_fmt)?, ct_fmt(to_fmt)?);
        Ok(PyBytes::new(
            py,
            &pke::convert(ciphertext, a, b).map_err(err)?,
        ))
    }

    /// Verify many (public, data, sig, id) items; the GIL is released once, rayon across cores.
    #[pyfunction]
    pub fn sm2_verify_many(
        py: Python<'_>,
        items: Vec<(PyBackedBytes, PyBackedBytes, PyBackedBytes, PyBackedBytes)>,
        fmt: &str,
        prehashed: bool,
    ) -> PyResult<Vec<bool>> {
        let f = sig_fmt(fmt)?;
        Ok(py.detach(|| {
            let refs: Vec<batch::VerifyItem<'_>> = items
                .iter()
                .map(|(p, d, s, i)| batch::VerifyItem {
                    public: p,
                    data: d,
                    sig: s,
                    id: i,
                })
                .collect();
            batch::verify_many(&refs, f, prehashed)
        }))
    }

    /// Decrypt many ciphertexts with one key: per item the plaintext (bytes) or a reason code (str).
    #[pyfunction]
    pub fn sm2_decrypt_many<'py>(
        py: Python<'py>,
        key: &Sm2PrivateKey,
        ciphertexts: Vec<PyBackedBytes>,
        fmt: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let f = ct_fmt(fmt)?;
        let results = py.detach(|| {
            let refs: Vec<&[u8]> = ciphertexts.iter().map(|c| c.as_ref()).collect();
            batch::decrypt_many(&key.inner, &refs, f)
        });
        let out = PyList::empty(py);
        for r in results {
            match r {
                Ok(pt) => out.append(PyBytes::new(py, &pt))?,
                Err(reason) => out.append(PyString::new(py, reason.code()))?,
            }
        }
        Ok(out)
    }
}

fn register_sm2(m: &Bound<'_, PyModule>) -> PyResult<()> {
    use sm2_glue::*;
    m.add_class::<Sm2PrivateKey>()?;
    m.add_function(wrap_pyfunction!(sm2_load_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_public_key_to_spki, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_compute_z, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_sign, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_sign_digest, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_verify, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_verify_digest, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_decrypt_with_point, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_check_plaintext, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_convert_ciphertext, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_verify_many, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_decrypt_many, m)?)?;
    Ok(())
}

// ===================================================================== envelopes (GM/T 0010)

fn register_envelope(m: &Bound<'_, PyModule>) -> PyResult<()> {
    opening_glue::register(m)
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

// ===================================================================== opening (issue 8)

mod opening_glue {
    use super::{sm4_err, PathBuf};
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::PyBytes;

    type OpenTuple<'py> = (
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
        PathBuf,
        u64,
        u64,
        Option<PathBuf>,
        Option<Bound<'py, PyBytes>>,
    );

    /// Opens envelope files in one call: items (key, iv, path, ct_offset, ct_length, out|None,
    /// expect_sm3|None); GIL released once, rayon across cores. Result per item: plaintext bytes,
    /// bytes written (int) when out is set, or an exception instance.
    #[pyfunction]
    fn envelope_open_batch<'py>(py: Python<'py>, items: Vec<OpenTuple<'py>>) -> Vec<Py<PyAny>> {
        let batch: Vec<crate::envelope::EnvelopeItem<'_>> = items
            .iter()
            .map(
                |(key, iv, path, off, len, out, sm3)| crate::envelope::EnvelopeItem {
                    key: key.as_bytes(),
                    iv: iv.as_bytes(),
                    path: path.clone(),
                    offset: *off,
                    length: *len,
                    output: out.clone(),
                    expect_sm3: sm3.as_ref().map(|d| d.as_bytes()),
                },
            )
            .collect();
        let done = py.detach(|| crate::envelope::open_batch(&batch));
        done.into_iter()
            .map(|r| match r {
                Ok(crate::sm4::Output::Data(d)) => PyBytes::new(py, &d).into_any().unbind(),
                Ok(crate::sm4::Output::Written(n)) => {
                    n.into_pyobject(py).expect("int").into_any().unbind()
                }
                Err(e) => sm4_err(py, e).into_value(py).into_any(),
            })
            .collect()
    }

    /// Σ [k_i]P_i over public SEC1 points (scalars 32-byte big-endian); None for infinity.
    #[pyfunction]
    fn sm2_multi_scalar_mul<'py>(
        py: Python<'py>,
        points: Vec<Vec<u8>>,
        scalars: Vec<Vec<u8>>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let ks: Vec<[u8; 32]> = scalars
            .iter()
            .map(|k| <[u8; 32]>::try_from(k.as_slice()))
            .collect::<Result<_, _>>()
            .map_err(|_| PyValueError::new_err("scalars are 32 bytes"))?;
        let ps: Vec<&[u8]> = points.iter().map(|p| p.as_slice()).collect();
        match crate::gm_sm2::msm::multi_scalar_mul(&ps, &ks) {
            Ok(r) => Ok(r.map(|p| PyBytes::new(py, &p))),
            Err(e) => Err(PyValueError::new_err(e.to_string())),
        }
    }

    pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(envelope_open_batch, m)?)?;
        m.add_function(wrap_pyfunction!(sm2_multi_scalar_mul, m)?)?;
        Ok(())
    }
}
