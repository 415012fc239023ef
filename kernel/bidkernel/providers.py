"""The provider seams on the kernel's own paths (docs/plugin_hooks.md "Providers").

A plugin's ``bidkernel_timestamp_source``, ``bidkernel_key_custody`` and ``bidkernel_blob_store`` answer
is installed on the :class:`~bidkernel.platform.Platform` when the plugin host attaches
(:meth:`bidkernel.plugins.host.PluginHost.attach`); with none installed, the kernel's embedded defaults
run exactly as before (the embedded TSA, the master-key sealer, the batched local blob store).

Policy stays here and in intake/opening, never in a provider: receipts only after every ``put`` of a
bid returned and its row committed; the opening unseals only after the trusted-time gate. A provider
that raises becomes a stable problem (``timestamp-unavailable``, ``blob-store-unavailable``,
``key-custody-unavailable``; 503) naming the exception's type only — a provider's message may carry
secrets or internal addresses, so neither the client nor the kernel's log gets it.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bidkernel.crypto.sm3 import sm3
from bidkernel.problems import KernelError

if TYPE_CHECKING:
    from bidkernel.platform import Platform
    from bidkernel.store.blobs import BlobUpload

log = logging.getLogger("bidkernel.providers")

PROVIDER_PROBLEMS = ("timestamp-unavailable", "blob-store-unavailable", "key-custody-unavailable")


def failed(kind: str, what: str, exc: BaseException) -> KernelError:
    # the type only, here too: a provider's message may hold a PIN or a device secret (no secret in a log);
    # the provider logs its own diagnostics
    log.warning("%s provider failed: %s", what, type(exc).__name__)
    return KernelError(kind, f"the {what} provider failed ({type(exc).__name__})")


# ------------------------------------------------------------------------------ platform signatures
def platform_sign(p: Platform, message: bytes) -> bytes:
    """The platform's SM2 signature over ``message`` (GB/T 32918.2 §6.1, ID 1234567812345678, DER): by the
    installed key-custody provider (an HSM holding the platform key) or, with none, by the platform key
    file. Receipts, ledger checkpoints and opening records are all signed here. A provider's signature is
    verified under the platform certificate before use: a device holding another key, or returning
    garbage, gives ``key-custody-unavailable`` rather than a receipt nobody can verify."""
    from bidkernel.crypto import sm2

    kc = p.key_custody
    sign = getattr(kc, "sign", None) if kc is not None and hasattr(kc, "certificate_pem") else None
    if sign is None:
        return sm2.sign(p.pki.platform.key, message, id=sm2.DEFAULT_ID, fmt="der")
    try:
        sig = bytes(sign(message))
    except KernelError:
        raise
    except Exception as exc:
        raise failed("key-custody-unavailable", "key custody", exc) from None
    try:
        ok = sm2.verify(p.pki.platform.certificate.public_key, message, sig, id=sm2.DEFAULT_ID)
    except Exception:
        ok = False
    if not ok:
        log.warning("key custody provider returned a signature that does not verify under the platform certificate")
        what = "the key custody provider's signature does not verify under the platform certificate"
        raise KernelError("key-custody-unavailable", what)
    return sig


# --------------------------------------------------------------------------------------- time stamps
def stamp(p: Platform, data: bytes) -> bytes:
    """An RFC 3161 token over SM3(``data``) from the installed timestamp source (default: the embedded
    TSA). A token whose imprint is not SM3(``data``) is refused (a provider cannot stamp other data)."""
    src = p.timestamps
    if src is None:
        return p.tsa.stamp(data)
    try:
        token = src.stamp(data)
    except KernelError:
        raise
    except Exception as exc:
        raise failed("timestamp-unavailable", "timestamp", exc) from None
    from bidkernel.timestamp.verify import describe_token

    try:
        info = describe_token(token)
        ok = info.hash_algorithm == "sm3" and hmac.compare_digest(info.message_imprint, sm3(data))
    except Exception:
        ok = False
    if not ok:
        log.warning("timestamp provider returned a token that is not over SM3 of the data")
        raise KernelError("timestamp-unavailable", "the timestamp provider returned a token over other data")
    return token


# --------------------------------------------------------------------------------------- blob store
def external(p: Platform) -> bool:
    """Whether a plugin's blob store holds the envelopes (else the local batched store does)."""
    return p.blob_store is not None


def put_all(p: Platform, uploads: Sequence[BlobUpload]) -> list[str]:
    """Hand every fsynced upload to the plugin's store; returns once each ``put`` returned (durable by
    the contract). On failure, what was put is deleted again and ``blob-store-unavailable`` is raised."""
    store = p.blob_store
    assert store is not None
    done: list[str] = []
    for up in uploads:
        name = up.digest().hex()
        try:
            store.put(name, up.tmp)
        except Exception as exc:
            drop_unreferenced(p, done)
            raise failed("blob-store-unavailable", "blob store", exc) from None
        done.append(name)
    return done


def drop_unreferenced(p: Platform, names: Iterable[str]) -> None:
    """Delete names from the plugin's store that no committed bid references (after a failed commit)."""
    store = p.blob_store
    names = list(names)
    if store is None or not names:
        return
    with p.store.reader() as r:
        referenced = r.blob_refs()
    for n in names:
        if n in referenced:
            continue
        try:
            store.delete(n)
        except Exception as exc:  # the name stays an orphan in the plugin's store; say so
            log.warning("blob store: could not delete unreferenced %s: %s", n, type(exc).__name__)


def local_path(p: Platform, sm3_hex: str) -> Path:
    """A local file with the stored envelope's bytes, for the opening's native batch (which streams files).

    Local store: the blob itself. A plugin's store: a copy fetched once into ``DATA/blob-cache/`` (the
    opening re-checks SM3 while decrypting, so a store that returns other bytes fails that envelope with
    ``digest-mismatch``, the platform's fault). A store that cannot return it leaves no file: the envelope
    then fails with ``platform-fault`` and the other bids open on (Art. 31)."""
    store = p.blob_store
    if store is None:
        return p.blobs.path(sm3_hex)
    path = p.blobs.path(sm3_hex)  # validates the name
    cache = p.data / "blob-cache" / sm3_hex[:2]
    out = cache / path.name
    if out.exists():
        return out
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = cache / f".{sm3_hex}.{secrets.token_hex(4)}.tmp"
    try:
        with store.open(sm3_hex) as src, open(tmp, "xb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.replace(tmp, out)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        log.warning("blob store: %s cannot be read: %s", sm3_hex, type(exc).__name__)
    return out


def forget_local(p: Platform, names: Iterable[str]) -> None:
    """Drop the opening's local copies of a plugin store's envelopes once the opening record committed
    (the plugin's store keeps the originals; a later read fetches again)."""
    if p.blob_store is None:
        return
    for n in names:
        (p.data / "blob-cache" / n[:2] / n).unlink(missing_ok=True)
