"""The platform: everything one kernel node runs on, wired from a data directory (the embedded default).

``DIR/kernel.sqlite`` (SQLite, WAL, synchronous=FULL: tenders, bids, the ledger, the outbox),
``DIR/blobs/`` (content-addressed envelope files), ``DIR/tsa-serial.sqlite`` (TSA serials) and
``DIR/pki/`` (on first run: a test CA, the platform's SM2 signing certificate and its TSA certificate;
a trading center replaces these with its CA's). The platform key signs receipts and ledger
checkpoints; the TSA key signs RFC 3161 tokens; the client trust roots (``pki/client-roots.pem``,
by default the test CA) are what request certificates must chain to.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509 as cx509

from bidkernel.crypto import sm2
from bidkernel.crypto.ca import ENCRYPTION, Issued, TestCA
from bidkernel.crypto.x509 import Certificate, KeyUsage
from bidkernel.custody.provider import KeyCustodyProvider
from bidkernel.ledger.checkpoint import SM2NoteSigner
from bidkernel.ledger.log import LogConfig, TransparencyLog
from bidkernel.store.blobs import BlobStore
from bidkernel.store.sqlite import SQLiteStore
from bidkernel.timestamp.asn1 import ID_KP_TIMESTAMPING
from bidkernel.timestamp.clock import TrustedClock
from bidkernel.timestamp.serials import SqliteSerialCounter
from bidkernel.timestamp.signers import Sm2Signer
from bidkernel.timestamp.tsa import TimeStampAuthority

if TYPE_CHECKING:
    from bidkernel.plugins.contract import BlobStore as PluginBlobStore
    from bidkernel.plugins.contract import TimestampSource

LOG_ORIGIN = "bidkernel.local/ledger"
TSA_POLICY = "1.2.156.112233.1.1"  # the embedded test TSA's policy OID (private arc; a deployment sets its own)


@dataclass(frozen=True)
class Limits:
    """Intake limits (DESIGN §3; DOMAIN workload: 3-5 envelopes, up to 20; 400 MB p95 files)."""

    max_envelope_bytes: int = 2 << 30
    max_envelopes: int = 20
    max_manifest_bytes: int = 256 << 10
    max_json_bytes: int = 1 << 20
    max_in_flight: int = 256
    retry_after_s: int = 1
    clock_skew_s: float = 300.0
    # per client (certificate fingerprint): a token bucket of `client_burst` refilled at `client_rate`/s
    client_rate: float = 50.0
    client_burst: int = 200
    # 更正: a change affecting bid preparation needs this long before the deadline (DOMAIN.md; 15 days)
    amendment_notice_s: float = 15 * 86400

    @property
    def max_package_bytes(self) -> int:
        return self.max_manifest_bytes + 16 + self.max_envelopes * self.max_envelope_bytes


def _load_issued(cert: Path, key: Path) -> Issued:
    return Issued(Certificate.load(cert.read_bytes()), sm2.load_private_key(key.read_bytes()))


def _save_issued(issued: Issued, cert: Path, key: Path) -> None:
    cert.write_bytes(issued.certificate.to_pem())
    key.touch(mode=0o600)
    key.write_bytes(issued.key.to_pkcs8(True))


@dataclass
class Pki:
    ca: TestCA
    platform: Issued
    tsa: Issued
    client_roots: list[Certificate]
    created: bool = False

    @classmethod
    def load_or_create(cls, d: Path) -> Pki:
        d.mkdir(parents=True, exist_ok=True)
        names = ("ca", "platform", "tsa")
        created = False
        if not (d / "ca.pem").exists():
            ca = TestCA.create("CN=bidkernel embedded test CA,O=bidkernel")
            platform = ca.issue("CN=bidkernel platform,O=bidkernel", days=3650)
            tsa = ca.issue(
                "CN=bidkernel TSA,O=bidkernel",
                days=3650,
                key_usage=(KeyUsage.DIGITAL_SIGNATURE, KeyUsage.CONTENT_COMMITMENT),
                extended_key_usage=[ID_KP_TIMESTAMPING],
            )
            for n, iss in zip(names, (ca.root, platform, tsa), strict=True):
                _save_issued(iss, d / f"{n}.pem", d / f"{n}.key")
            (d / "client-roots.pem").write_bytes(ca.root.certificate.to_pem())
            created = True
        root, platform, tsa = (_load_issued(d / f"{n}.pem", d / f"{n}.key") for n in names)
        roots_pem = (d / "client-roots.pem").read_bytes()
        roots = [Certificate.from_pem(b) for b in _split_pem(roots_pem)]
        return cls(TestCA(root=root, issuing=root), platform, tsa, roots, created)


def _split_pem(data: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----"
    return [p + end for p in data.split(end) if b"-----BEGIN" in p]


@dataclass
class Platform:
    """One kernel node's resources. Use :meth:`open`; :meth:`close` when done."""

    data: Path
    store: SQLiteStore
    blobs: BlobStore
    log: TransparencyLog
    clock: TrustedClock
    tsa: TimeStampAuthority
    pki: Pki
    limits: Limits
    revoked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    key_custody: KeyCustodyProvider | None = None  # sealing of keys at rest (custody.tender_keys.provider)
    # a plugin's providers, installed by PluginHost.attach; None: the embedded defaults (bidkernel.providers)
    timestamps: TimestampSource | None = None
    blob_store: PluginBlobStore | None = None
    note_signer: SM2NoteSigner | None = None  # the log's checkpoint signer (delegated to a custody provider)

    @classmethod
    def open(
        cls,
        data: str | Path,
        *,
        clock: TrustedClock | None = None,
        limits: Limits | None = None,
        group_commit: bool = True,
        system_time: Callable[[], float] | None = None,
    ) -> Platform:
        data = Path(data)
        data.mkdir(parents=True, exist_ok=True)
        pki = Pki.load_or_create(data / "pki")
        if clock is None:
            clock = TrustedClock(system=system_time) if system_time is not None else TrustedClock()
        store = SQLiteStore(data / "kernel.sqlite")
        clock_ms: Callable[[], int] = lambda: int(clock.read().timestamp * 1000)  # noqa: E731
        signer = SM2NoteSigner(LOG_ORIGIN, pki.platform.key)
        cfg = LogConfig(
            origin=LOG_ORIGIN,
            max_batch=1024 if group_commit else 1,
            checkpoint_every_n=0,
            checkpoint_every_ms=1000,
            verify_on_open="checkpoints",
            checkpoint_on_commit=True,  # a receipt's checkpoint comes with its commit: no second fsync
        )
        log = TransparencyLog.open(store, cfg, signer=signer, clock=clock_ms)
        tsa_cert = cx509.load_der_x509_certificate(pki.tsa.certificate.der)
        root_cert = cx509.load_der_x509_certificate(pki.ca.root.certificate.der)
        tsa = TimeStampAuthority(
            signer=Sm2Signer(pki.tsa.key),
            certificate=tsa_cert,
            chain=[root_cert],
            policy=TSA_POLICY,
            serials=SqliteSerialCounter(data / "tsa-serial.sqlite"),
            clock=clock,
        )
        blobs = BlobStore(data / "blobs")
        with store.reader() as r:
            referenced = r.blob_refs()
        blobs.sweep(referenced)
        self = cls(data, store, blobs, log, clock, tsa, pki, limits or Limits())
        self.note_signer = signer
        return self

    def now_ms(self) -> int:
        """Trusted time in ms (raises UntrustedTimeError when the clock cannot be trusted)."""
        return int(self.clock.read().timestamp * 1000)

    def is_revoked(self, fp_hex: str) -> bool:
        if fp_hex in self.revoked:
            return True
        with self.store.reader() as r:
            hit = r.revoked(fp_hex)
        if hit:
            self.revoked.add(fp_hex)
        return hit

    def revoke(self, fp_hex: str, reason: str) -> None:
        with self.store.transaction() as tx:
            tx.revocation_add(fp_hex, reason, self.now_ms())
        self.revoked.add(fp_hex)

    def close(self) -> None:
        self.log.close()
        self.blobs.close()
        self.store.close()

    def __repr__(self) -> str:
        return f"Platform({str(self.data)!r})"


def issue_opening_certificate(ca: TestCA, subject: str) -> Issued:
    """An encryption certificate for a tender's opening key (keyEncipherment; GM/T 0010 recipients)."""
    return ca.issue(subject, key_usage=ENCRYPTION)


def utc_ms(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as receipts print trusted time."""
    t = _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
