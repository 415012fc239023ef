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
    m.add_function(wrap_pyfunction!(sm2_convert_ciphertext, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_verify_many, m)?)?;
    m.add_function(wrap_pyfunction!(sm2_decrypt_many, m)?)?;
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
