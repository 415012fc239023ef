"""Sealing keys at rest: the provider seam behind platform custody.

A :class:`KeyCustodyProvider` seals a secret (a tender's opening key, a released share, a content key
released by a bidder) so that the bytes on disk are useless without the provider. The embedded default,
:class:`MasterKeyProvider`, is SM4-GCM (GB/T 32907, SP 800-38D) under a 128-bit master key read from
``BIDKERNEL_MASTER_KEY`` (32 hex digits) or from ``DIR/custody/master.key`` (created 0600 on first use).
An HSM plugin implements the same two methods and never lets the key leave the device.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol, runtime_checkable

from bidkernel.crypto import sm4
from bidkernel.crypto.errors import CryptoError

_MAGIC = b"BKMK1"


class CustodyError(Exception):
    """A sealed secret cannot be opened (wrong master key, tampered blob, wrong label)."""


@runtime_checkable
class KeyCustodyProvider(Protocol):
    """Seals secrets at rest. ``label`` binds a blob to its purpose (e.g. ``tender/<id>/opening-key``):
    a blob unsealed under another label fails."""

    name: str

    def seal(self, label: str, secret: bytes) -> bytes: ...

    def unseal(self, label: str, sealed: bytes) -> bytes: ...


class MasterKeyProvider:
    """SM4-GCM under a master key (the embedded default; see the module docstring)."""

    name = "master-key/sm4-gcm"

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != sm4.KEY_SIZE:
            raise ValueError("the master key is 16 bytes")
        self._key = bytearray(master_key)

    def __repr__(self) -> str:
        return "MasterKeyProvider(<key hidden>)"

    @classmethod
    def from_config(cls, data: Path) -> MasterKeyProvider:
        env = os.environ.get("BIDKERNEL_MASTER_KEY")
        if env:
            try:
                return cls(bytes.fromhex(env))
            except ValueError:
                raise ValueError("BIDKERNEL_MASTER_KEY must be 32 hex digits") from None
        path = data / "custody" / "master.key"
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(f".master.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_bytes(sm4.KEY_SIZE))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        raw = path.read_bytes()
        return cls(raw)

    def seal(self, label: str, secret: bytes) -> bytes:
        iv = secrets.token_bytes(sm4.GCM_IV_SIZE)
        ct, tag = sm4.gcm_encrypt(bytes(self._key), iv, secret, aad=label.encode())
        return _MAGIC + iv + ct + tag

    def unseal(self, label: str, sealed: bytes) -> bytes:
        if not sealed.startswith(_MAGIC) or len(sealed) < len(_MAGIC) + sm4.GCM_IV_SIZE + sm4.GCM_TAG_SIZE:
            raise CustodyError("not a sealed secret")
        body = sealed[len(_MAGIC) :]
        iv, ct, tag = body[: sm4.GCM_IV_SIZE], body[sm4.GCM_IV_SIZE : -sm4.GCM_TAG_SIZE], body[-sm4.GCM_TAG_SIZE :]
        try:
            return sm4.gcm_decrypt(bytes(self._key), iv, ct, tag, aad=label.encode())
        except CryptoError:
            raise CustodyError("the sealed secret does not open under this master key and label") from None
