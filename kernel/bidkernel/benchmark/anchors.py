"""Anchor libraries driven through ctypes for ``bidkernel bench crypto``: libgcrypt (a Debian
library, ``libgcrypt20``) and GmSSL 3 (built by the user from guanzhi/GmSSL outside the tree, found
by path). Nothing is built or vendored here; a missing library is simply an absent column.

Each anchor exposes the same operations as bidkernel's side of the table as zero-argument callables
(one call = one unit: a 1 MiB buffer or one SM2 operation), so both sides pay a comparable Python
call overhead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from pathlib import Path

Op = Callable[[], object]

# libgcrypt constants (gcrypt.h): GCRY_MD_SM3, GCRY_CIPHER_SM4, cipher modes, control code.
_GCRY_MD_SM3 = 326
_GCRY_CIPHER_SM4 = 318
_MODE_CBC, _MODE_CTR, _MODE_GCM = 3, 6, 9
_GCRYCTL_INITIALIZATION_FINISHED = 38

GMSSL_ENV = "BIDKERNEL_GMSSL_LIB"

_P, _Z, _I = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
_PZ = ctypes.POINTER(ctypes.c_size_t)

# C prototypes (pointer, size_t and int arguments must not be guessed by ctypes).
_GCRYPT_PROTOS: dict[str, tuple[list[type], type | None]] = {
    "gcry_cipher_open": ([_P, _I, _I, ctypes.c_uint], _I),
    "gcry_cipher_setkey": ([_P, _P, _Z], _I),
    "gcry_cipher_setiv": ([_P, _P, _Z], _I),
    "gcry_cipher_setctr": ([_P, _P, _Z], _I),
    "gcry_cipher_encrypt": ([_P, _P, _Z, _P, _Z], _I),
    "gcry_cipher_decrypt": ([_P, _P, _Z, _P, _Z], _I),
    "gcry_cipher_gettag": ([_P, _P, _Z], _I),
    "gcry_md_hash_buffer": ([_I, _P, _P, _Z], None),
}
_GMSSL_PROTOS: dict[str, tuple[list[type], type | None]] = {
    "sm2_key_generate": ([_P], _I),
    "sm2_sign_init": ([_P, _P, _P, _Z], _I),
    "sm2_sign_reset": ([_P], _I),
    "sm2_sign_update": ([_P, _P, _Z], _I),
    "sm2_sign_finish": ([_P, _P, _PZ], _I),
    "sm2_verify_init": ([_P, _P, _P, _Z], _I),
    "sm2_verify_reset": ([_P], _I),
    "sm2_verify_update": ([_P, _P, _Z], _I),
    "sm2_verify_finish": ([_P, _P, _Z], _I),
    "sm2_encrypt": ([_P, _P, _Z, _P, _PZ], _I),
    "sm2_decrypt": ([_P, _P, _Z, _P, _PZ], _I),
    "sm3_digest": ([_P, _Z, _P], None),
    "sm4_set_encrypt_key": ([_P, _P], None),
    "sm4_set_decrypt_key": ([_P, _P], None),
    "sm4_ctr32_encrypt_blocks": ([_P, _P, _P, _Z, _P], None),
    "sm4_cbc_encrypt_blocks": ([_P, _P, _P, _Z, _P], None),
    "sm4_cbc_decrypt_blocks": ([_P, _P, _P, _Z, _P], None),
    "sm4_gcm_encrypt": ([_P, _P, _Z, _P, _Z, _P, _Z, _P, _Z, _P], _I),
}


def _prototype(lib: ctypes.CDLL, protos: dict[str, tuple[list[type], type | None]]) -> None:
    for name, (args, res) in protos.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res


class AnchorError(Exception):
    """An anchor library was asked for explicitly and cannot be used."""


class Libgcrypt:
    """libgcrypt's SM4 modes and SM3 on one buffer."""

    name = "libgcrypt"

    def __init__(self) -> None:
        path = ctypes.util.find_library("gcrypt") or "libgcrypt.so.20"
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise AnchorError(f"libgcrypt not loadable ({e})") from None
        lib.gcry_check_version.restype = ctypes.c_char_p
        lib.gcry_check_version.argtypes = [ctypes.c_char_p]
        _prototype(lib, _GCRYPT_PROTOS)
        self.version = f"libgcrypt {lib.gcry_check_version(None).decode()}"
        lib.gcry_control(_GCRYCTL_INITIALIZATION_FINISHED, 0)
        self._lib = lib

    def _cipher(self, mode: int, key: bytes) -> ctypes.c_void_p:
        h = ctypes.c_void_p()
        if self._lib.gcry_cipher_open(ctypes.byref(h), _GCRY_CIPHER_SM4, mode, 0) != 0:
            raise AnchorError("libgcrypt has no SM4")
        self._lib.gcry_cipher_setkey(h, key, 16)
        return h

    def symmetric_ops(self, key: bytes, iv: bytes, data: bytes) -> dict[str, Op]:
        lib, n = self._lib, len(data)
        buf = ctypes.create_string_buffer(data, n)
        dgst, tag = ctypes.create_string_buffer(32), ctypes.create_string_buffer(16)
        ctr, gcm, cbc = self._cipher(_MODE_CTR, key), self._cipher(_MODE_GCM, key), self._cipher(_MODE_CBC, key)

        def sm4_ctr() -> object:
            lib.gcry_cipher_setctr(ctr, iv, 16)
            return lib.gcry_cipher_encrypt(ctr, buf, n, None, 0)

        def sm4_gcm() -> object:
            lib.gcry_cipher_setiv(gcm, iv, 12)
            lib.gcry_cipher_encrypt(gcm, buf, n, None, 0)
            return lib.gcry_cipher_gettag(gcm, tag, 16)

        def sm4_cbc(decrypt: bool) -> object:
            lib.gcry_cipher_setiv(cbc, iv, 16)
            return (lib.gcry_cipher_decrypt if decrypt else lib.gcry_cipher_encrypt)(cbc, buf, n, None, 0)

        return {
            "SM4-CTR": sm4_ctr,
            "SM4-GCM seal": sm4_gcm,
            "SM4-CBC decrypt": lambda: sm4_cbc(True),
            "SM4-CBC encrypt": lambda: sm4_cbc(False),
            "SM3": lambda: lib.gcry_md_hash_buffer(_GCRY_MD_SM3, dgst, buf, n),
        }

    def sm2_ops(self, message: bytes) -> dict[str, Op]:
        return {}


class Gmssl:
    """GmSSL 3's SM2 (signing and verifying contexts reused, Z_A computed once, as its own
    benchmark does), SM3 and SM4, from a ``libgmssl.so`` given by path."""

    name = "GmSSL"
    # Opaque C structs are allocated generously: SM2_SIGN_CTX holds 32 precomputed nonces.
    _CTX_BYTES = 1 << 16

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if p.is_dir():
            p = p / "libgmssl.so"
        try:
            lib = ctypes.CDLL(str(p))
            _prototype(lib, _GMSSL_PROTOS)
        except (OSError, AttributeError) as e:
            raise AnchorError(f"{p}: not a GmSSL 3 library ({e})") from None
        self.version = f"GmSSL ({p})"
        self._lib = lib
        self._keep: list[ctypes.Array[ctypes.c_char]] = []
        self._key = self._buf()
        if lib.sm2_key_generate(self._key) != 1:
            raise AnchorError("GmSSL sm2_key_generate failed")

    def _buf(self) -> int:
        """Address of a zeroed, 64-byte aligned struct area (its assembly uses aligned loads)."""
        raw = ctypes.create_string_buffer(self._CTX_BYTES + 64)
        self._keep.append(raw)
        addr = ctypes.addressof(raw)
        return addr + (-addr % 64)

    def symmetric_ops(self, key: bytes, iv: bytes, data: bytes) -> dict[str, Op]:
        lib, n = self._lib, len(data)
        src, out = ctypes.create_string_buffer(data, n), ctypes.create_string_buffer(n + 32)
        ek, dk = self._buf(), self._buf()
        lib.sm4_set_encrypt_key(ek, key)
        lib.sm4_set_decrypt_key(dk, key)
        ctr, ivb, tag = (ctypes.create_string_buffer(16) for _ in range(3))
        dgst = ctypes.create_string_buffer(32)
        blocks = n // 16

        def sm4_ctr() -> object:
            ctypes.memmove(ctr, iv, 16)
            return lib.sm4_ctr32_encrypt_blocks(ek, ctr, src, blocks, out)

        def sm4_cbc(decrypt: bool) -> object:
            ctypes.memmove(ivb, iv, 16)
            if decrypt:
                return lib.sm4_cbc_decrypt_blocks(dk, ivb, src, blocks, out)
            return lib.sm4_cbc_encrypt_blocks(ek, ivb, src, blocks, out)

        return {
            "SM4-CTR": sm4_ctr,
            "SM4-GCM seal": lambda: lib.sm4_gcm_encrypt(ek, iv, 12, None, 0, src, n, out, 16, tag),
            "SM4-CBC decrypt": lambda: sm4_cbc(True),
            "SM4-CBC encrypt": lambda: sm4_cbc(False),
            "SM3": lambda: lib.sm3_digest(src, n, dgst),
        }

    def sm2_ops(self, message: bytes) -> dict[str, Op]:
        lib, key, m = self._lib, self._key, message
        default_id = b"1234567812345678"
        sctx, vctx = self._buf(), self._buf()
        sig, siglen = ctypes.create_string_buffer(128), ctypes.c_size_t(0)
        ct, ctlen = ctypes.create_string_buffer(512), ctypes.c_size_t(0)
        pt, ptlen = ctypes.create_string_buffer(512), ctypes.c_size_t(0)
        lib.sm2_sign_init(sctx, key, default_id, len(default_id))
        lib.sm2_verify_init(vctx, key, default_id, len(default_id))

        def sign() -> object:
            lib.sm2_sign_reset(sctx)
            lib.sm2_sign_update(sctx, m, len(m))
            return lib.sm2_sign_finish(sctx, sig, ctypes.byref(siglen))

        sign()
        sig_bytes = sig.raw[: siglen.value]

        def verify() -> object:
            lib.sm2_verify_reset(vctx)
            lib.sm2_verify_update(vctx, m, len(m))
            if lib.sm2_verify_finish(vctx, sig_bytes, len(sig_bytes)) != 1:
                raise AnchorError("GmSSL rejected its own signature")
            return True

        def encrypt() -> object:
            return lib.sm2_encrypt(key, m, len(m), ct, ctypes.byref(ctlen))

        encrypt()
        ct_bytes = ct.raw[: ctlen.value]

        def decrypt() -> object:
            if lib.sm2_decrypt(key, ct_bytes, len(ct_bytes), pt, ctypes.byref(ptlen)) != 1:
                raise AnchorError("GmSSL failed to decrypt its own ciphertext")
            return True

        return {"SM2 sign": sign, "SM2 verify": verify, "SM2 encrypt": encrypt, "SM2 decrypt": decrypt}


Anchor = Libgcrypt | Gmssl


def load_anchors(gmssl: str | None, want_gcrypt: bool = True) -> list[Anchor]:
    """libgcrypt when loadable (silently absent otherwise) and GmSSL when a path is given (an error
    if that path does not hold it); ``gmssl=None`` also consults $BIDKERNEL_GMSSL_LIB."""
    out: list[Anchor] = []
    if want_gcrypt:
        try:
            out.append(Libgcrypt())
        except AnchorError:
            pass
    path = gmssl if gmssl is not None else os.environ.get(GMSSL_ENV)
    if path:
        out.append(Gmssl(path))
    return out
