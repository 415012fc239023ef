"""OpenSSL 3 SM2 through ctypes on libcrypto.so.3 (EVP API), for differential tests and benchmarks.

The same library the ``openssl`` CLI uses, without a process per operation. Signatures use
``EVP_DigestSign``/``EVP_DigestVerify`` with SM3 and the distinguishing ID set by
``EVP_PKEY_CTX_set1_id`` (when ``id`` is None nothing is set: OpenSSL's default, the EMPTY ID).
Encryption uses ``EVP_PKEY_encrypt``/``EVP_PKEY_decrypt`` (GM/T 0009 DER SM2Cipher).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager

c_void_p, c_int, c_size_t, c_char_p = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p


def _load() -> ctypes.CDLL | None:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if hasattr(lib, "EVP_PKEY_CTX_set1_id") and hasattr(lib, "OpenSSL_version_num"):
            return lib
    return None


LIB = _load()


def _setup(lib: ctypes.CDLL) -> None:
    sig = {
        "BIO_new_mem_buf": (c_void_p, [c_char_p, c_int]),
        "BIO_free": (c_int, [c_void_p]),
        "PEM_read_bio_PrivateKey": (c_void_p, [c_void_p, c_void_p, c_void_p, c_void_p]),
        "PEM_read_bio_PUBKEY": (c_void_p, [c_void_p, c_void_p, c_void_p, c_void_p]),
        "EVP_PKEY_free": (None, [c_void_p]),
        "EVP_MD_CTX_new": (c_void_p, []),
        "EVP_MD_CTX_free": (None, [c_void_p]),
        "EVP_MD_CTX_set_pkey_ctx": (None, [c_void_p, c_void_p]),
        "EVP_PKEY_CTX_new": (c_void_p, [c_void_p, c_void_p]),
        "EVP_PKEY_CTX_free": (None, [c_void_p]),
        "EVP_PKEY_CTX_set1_id": (c_int, [c_void_p, c_char_p, c_int]),
        "EVP_sm3": (c_void_p, []),
        "EVP_DigestSignInit": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "EVP_DigestSign": (c_int, [c_void_p, c_char_p, ctypes.POINTER(c_size_t), c_char_p, c_size_t]),
        "EVP_DigestVerifyInit": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "EVP_DigestVerify": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]),
        "EVP_PKEY_encrypt_init": (c_int, [c_void_p]),
        "EVP_PKEY_encrypt": (c_int, [c_void_p, c_char_p, ctypes.POINTER(c_size_t), c_char_p, c_size_t]),
        "EVP_PKEY_decrypt_init": (c_int, [c_void_p]),
        "EVP_PKEY_decrypt": (c_int, [c_void_p, c_char_p, ctypes.POINTER(c_size_t), c_char_p, c_size_t]),
        "ERR_clear_error": (None, []),
        "OpenSSL_version": (c_char_p, [c_int]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


if LIB is not None:
    _setup(LIB)


def version() -> str:
    assert LIB is not None
    return str(LIB.OpenSSL_version(0).decode())


class OsslKey:
    """An EVP_PKEY loaded from PEM (private PKCS#8/SEC1 or public SPKI)."""

    def __init__(self, pem: bytes, *, public: bool = False) -> None:
        assert LIB is not None
        bio = LIB.BIO_new_mem_buf(pem, len(pem))
        try:
            reader = LIB.PEM_read_bio_PUBKEY if public else LIB.PEM_read_bio_PrivateKey
            self.ptr = reader(bio, None, None, None)
        finally:
            LIB.BIO_free(bio)
        if not self.ptr:
            LIB.ERR_clear_error()
            raise ValueError("OpenSSL could not load the key")

    def __del__(self) -> None:
        if getattr(self, "ptr", None) and LIB is not None:
            LIB.EVP_PKEY_free(self.ptr)
            self.ptr = None

    @contextmanager
    def _mdctx(self, id: bytes | None) -> Iterator[int]:
        assert LIB is not None
        mctx = LIB.EVP_MD_CTX_new()
        pctx = LIB.EVP_PKEY_CTX_new(self.ptr, None)
        try:
            if id is not None and LIB.EVP_PKEY_CTX_set1_id(pctx, id, len(id)) != 1:
                raise RuntimeError("EVP_PKEY_CTX_set1_id failed")
            LIB.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            yield mctx
        finally:
            LIB.EVP_MD_CTX_free(mctx)
            LIB.EVP_PKEY_CTX_free(pctx)

    def sign(self, msg: bytes, id: bytes | None) -> bytes:
        """DER signature over SM3(Z || msg); ``id=None`` is OpenSSL's default (empty) ID."""
        assert LIB is not None
        with self._mdctx(id) as mctx:
            if LIB.EVP_DigestSignInit(mctx, None, LIB.EVP_sm3(), None, self.ptr) != 1:
                raise RuntimeError("EVP_DigestSignInit failed")
            buf = ctypes.create_string_buffer(80)
            n = c_size_t(80)
            if LIB.EVP_DigestSign(mctx, buf, ctypes.byref(n), msg, len(msg)) != 1:
                raise RuntimeError("EVP_DigestSign failed")
            return buf.raw[: n.value]

    def verify(self, msg: bytes, sig: bytes, id: bytes | None) -> bool:
        assert LIB is not None
        with self._mdctx(id) as mctx:
            if LIB.EVP_DigestVerifyInit(mctx, None, LIB.EVP_sm3(), None, self.ptr) != 1:
                raise RuntimeError("EVP_DigestVerifyInit failed")
            ok = LIB.EVP_DigestVerify(mctx, sig, len(sig), msg, len(msg)) == 1
            if not ok:
                LIB.ERR_clear_error()
            return ok

    def encrypt(self, pt: bytes) -> bytes:
        assert LIB is not None
        pctx = LIB.EVP_PKEY_CTX_new(self.ptr, None)
        try:
            cap = len(pt) + 160
            buf = ctypes.create_string_buffer(cap)
            n = c_size_t(cap)
            if (
                LIB.EVP_PKEY_encrypt_init(pctx) != 1
                or LIB.EVP_PKEY_encrypt(pctx, buf, ctypes.byref(n), pt, len(pt)) != 1
            ):
                raise RuntimeError("EVP_PKEY_encrypt failed")
            return buf.raw[: n.value]
        finally:
            LIB.EVP_PKEY_CTX_free(pctx)

    def decrypt(self, ct: bytes) -> bytes | None:
        assert LIB is not None
        pctx = LIB.EVP_PKEY_CTX_new(self.ptr, None)
        try:
            cap = len(ct) + 16
            buf = ctypes.create_string_buffer(cap)
            n = c_size_t(cap)
            if (
                LIB.EVP_PKEY_decrypt_init(pctx) != 1
                or LIB.EVP_PKEY_decrypt(pctx, buf, ctypes.byref(n), ct, len(ct)) != 1
            ):
                LIB.ERR_clear_error()
                return None
            return buf.raw[: n.value]
        finally:
            LIB.EVP_PKEY_CTX_free(pctx)
