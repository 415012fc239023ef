"""The kernel's own providers, registered as the built-in plugin ``kernel`` with ``trylast`` so that any
installed plugin returning a provider wins (DESIGN §4: "Kernel defaults are built-in plugins")."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from bidkernel.hookspecs import hookimpl

if TYPE_CHECKING:
    from bidkernel.custody.provider import MasterKeyProvider
    from bidkernel.platform import Platform
    from bidkernel.plugins.contract import KernelConfig
    from bidkernel.store.blobs import BlobStore as LocalBlobs
    from bidkernel.timestamp.tsa import TimeStampAuthority

log = logging.getLogger("bidkernel.notices")


class PlatformKeyCustody:
    """The embedded default of the HSM seam: keys at rest sealed with SM4-GCM under the master key
    (:class:`~bidkernel.custody.provider.MasterKeyProvider`), signatures with the platform key file under
    ``DATA/pki``. An HSM plugin replaces both."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform
        self._master: MasterKeyProvider | None = None

    def _sealer(self) -> MasterKeyProvider:
        from bidkernel.custody.provider import MasterKeyProvider

        if self._master is None:
            self._master = MasterKeyProvider.from_config(self._p.data)
        return self._master

    @property
    def name(self) -> str:
        from bidkernel.custody.provider import MasterKeyProvider

        return MasterKeyProvider.name

    def seal(self, label: str, secret: bytes) -> bytes:
        return self._sealer().seal(label, secret)

    def unseal(self, label: str, sealed: bytes) -> bytes:
        return self._sealer().unseal(label, sealed)

    def sign(self, message: bytes) -> bytes:
        from bidkernel.crypto import sm2

        return sm2.sign(self._p.pki.platform.key, message, id=sm2.DEFAULT_ID, fmt="der")

    def certificate_pem(self) -> bytes:
        return self._p.pki.platform.certificate.to_pem()

    def __repr__(self) -> str:
        return "PlatformKeyCustody(<file key>)"


class EmbeddedTimestamps:
    """The kernel's embedded RFC 3161 TSA."""

    def __init__(self, tsa: TimeStampAuthority) -> None:
        self._tsa = tsa

    def stamp(self, data: bytes) -> bytes:
        return self._tsa.stamp(data)


class LocalBlobStore:
    """The content-addressed files under ``DATA/blobs``."""

    def __init__(self, blobs: LocalBlobs) -> None:
        self._blobs = blobs

    def exists(self, sm3_hex: str) -> bool:
        return self._blobs.exists(sm3_hex)

    def open(self, sm3_hex: str) -> BinaryIO:
        return open(self._blobs.path(sm3_hex), "rb")

    def put(self, sm3_hex: str, path: Path) -> None:
        # the intake path does not come here (it stages and places in batches: store/blobs.py); this is
        # for callers that hold a file, e.g. a plugin migrating blobs
        if self._blobs.exists(sm3_hex):
            return
        up = self._blobs.upload(1 << 62)
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    up.write(chunk)
            if up.digest().hex() != sm3_hex:
                raise ValueError("the file does not hash to its name")
            up.commit()
        except BaseException:
            up.abort()
            raise

    def delete(self, sm3_hex: str) -> None:
        self._blobs.remove(sm3_hex)


class FileNotifier:
    """Appends each notice as a JSON line to ``DATA/notices.jsonl`` (and the log): the embedded default
    that an SMS or e-mail plugin replaces."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._path = platform.data / "notices.jsonl"
        self._lock = threading.Lock()

    def notify(self, recipient: str, subject: str, body: str) -> None:
        line = json.dumps({"recipient": recipient, "subject": subject, "body": body}, ensure_ascii=False)
        with self._lock, open(self._path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        log.info("notice to %s: %s", recipient, subject)


class KernelDefaults:
    """Built-in plugin ``kernel``: answers the provider hooks from the platform (once attached)."""

    def __init__(self) -> None:
        self.platform: Platform | None = None
        self._notifier: FileNotifier | None = None
        self._custody: PlatformKeyCustody | None = None

    @hookimpl(trylast=True)
    def bidkernel_timestamp_source(self, config: KernelConfig) -> Any:
        return None if self.platform is None else EmbeddedTimestamps(self.platform.tsa)

    @hookimpl(trylast=True)
    def bidkernel_key_custody(self, config: KernelConfig) -> Any:
        if self.platform is None:
            return None
        if self._custody is None or self._custody._p is not self.platform:
            self._custody = PlatformKeyCustody(self.platform)  # one instance: the master key is read once
        return self._custody

    @hookimpl(trylast=True)
    def bidkernel_blob_store(self, config: KernelConfig) -> Any:
        return None if self.platform is None else LocalBlobStore(self.platform.blobs)

    @hookimpl(trylast=True)
    def bidkernel_notifier(self, config: KernelConfig) -> Any:
        if self.platform is None:
            return None
        if self._notifier is None or self._notifier.platform is not self.platform:
            self._notifier = FileNotifier(self.platform)  # one instance: its lock orders the lines
        return self._notifier
