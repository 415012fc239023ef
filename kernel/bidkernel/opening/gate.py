"""Attested time for the opening gate: the time a key the platform itself holds may be unsealed at.

The clock gate (``OpeningService.require_opening_time``) reads ``Platform.clock`` — an object a library
caller supplies (``Platform.open(data, clock=...)``), and until this gate also the clock of the embedded TSA
that ``Platform.open`` builds. So before the ``platform-key`` or the ``remedy-key`` is unsealed, the time is
taken from a source the clock argument does not reach:

* **the configured TSA** when ``DIR/custody/opening-tsa.json`` exists (``{"url", "anchors": PEM, "policy"?}``,
  written by :func:`configure`): an RFC 3161 request over SM3 of the gate's label with a fresh nonce
  (RFC 3161 §2.4.1), the reply verified against the configured trust anchors — signature, chain, ESS
  binding, imprint, nonce, policy (``bidkernel.timestamp.verify.verify_token``);
* otherwise **the embedded TSA key on the kernel's own clock**: the data directory's TSA key signs a token
  whose genTime comes from :func:`kernel_clock`, a process-wide trusted clock over the operating system's
  real-time and monotonic clocks that no argument of the kernel's API replaces; the token is verified
  against the data directory's CA root.

The unseal proceeds only if genTime − accuracy ≥ ``opening_ms`` (RFC 3161 §2.4.2; conservative like
``TrustedClock.has_reached``). What this does not stop: whoever holds the data directory holds the master
key file and the embedded TSA key, and can decrypt without any gate — that is what an HSM custody provider
(with an external TSA configured here) and threshold custody are for (docs/protocol.md "Opening").
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from cryptography import x509 as cx509

from bidkernel.platform import Platform
from bidkernel.problems import KernelError
from bidkernel.timestamp.clock import TrustedClock
from bidkernel.timestamp.errors import TimestampError
from bidkernel.timestamp.verify import Trust, verify_token

CONFIG = Path("custody") / "opening-tsa.json"

_clock: TrustedClock | None = None
_clock_lock = threading.Lock()


def kernel_clock() -> TrustedClock:
    """The kernel's own trusted clock (system mode over ``time.time`` / ``time.monotonic``): one per
    process, created on first use; never a caller's."""
    global _clock
    with _clock_lock:
        if _clock is None:
            _clock = TrustedClock()
        return _clock


@dataclass(frozen=True)
class Attested:
    """A time the gate trusts: genTime, the token's accuracy (seconds) and where it came from."""

    gen_time: datetime
    accuracy: float
    source: str

    @property
    def earliest_ms(self) -> float:
        return (self.gen_time.timestamp() - self.accuracy) * 1000


@dataclass(frozen=True)
class GateConfig:
    url: str
    anchors: list[cx509.Certificate]
    policy: str | None


def configure(data: str | os.PathLike[str], url: str, anchors_pem: bytes, policy: str | None = None) -> None:
    """Name the TSA the opening gate asks (``url``, RFC 3161 over HTTP) and the anchors its tokens must
    chain to; written atomically to ``DIR/custody/opening-tsa.json``."""
    anchors = cx509.load_pem_x509_certificates(anchors_pem)  # refuses what is not PEM certificates
    if not anchors or not url.startswith(("http://", "https://")):
        raise ValueError("the opening gate needs an http(s) URL and at least one trust anchor")
    path = Path(data) / CONFIG
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".opening-tsa.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(orjson.dumps({"url": url, "anchors": anchors_pem.decode(), "policy": policy}))
    os.replace(tmp, path)


def load_config(data: Path) -> GateConfig | None:
    path = data / CONFIG
    if not path.exists():
        return None
    try:
        raw = orjson.loads(path.read_bytes())
        anchors = cx509.load_pem_x509_certificates(str(raw["anchors"]).encode())
        return GateConfig(str(raw["url"]), anchors, raw.get("policy"))
    except (OSError, ValueError, KeyError, TypeError):
        raise KernelError("timestamp-unavailable", f"{path} is not a valid opening-gate TSA configuration") from None


def attested_time(p: Platform, data: bytes) -> Attested:
    """A verified timestamp over ``data`` from the configured TSA, else from the embedded TSA key on
    :func:`kernel_clock` (see the module docstring). ``timestamp-unavailable`` when none can be had."""
    from bidkernel.timestamp.client import TSAClient, TSAEndpoint

    cfg = load_config(p.data)
    if cfg is not None:
        ep = TSAEndpoint(cfg.url, Trust(cfg.anchors), policy=cfg.policy, hash_algorithm="sm3", name="opening gate")
        try:
            issued = TSAClient([ep], timeout=5.0, total_timeout=10.0, retries=1).request(data)
        except TimestampError as exc:
            raise KernelError("timestamp-unavailable", f"the opening gate's TSA gave no valid token: {exc}") from None
        return Attested(issued.info.gen_time, issued.info.accuracy or 0.0, cfg.url)
    from bidkernel.platform import TSA_POLICY
    from bidkernel.timestamp.signers import Sm2Signer
    from bidkernel.timestamp.tsa import TimeStampAuthority

    root = cx509.load_der_x509_certificate(p.pki.ca.root.certificate.der)
    tsa = TimeStampAuthority(
        signer=Sm2Signer(p.pki.tsa.key),
        certificate=cx509.load_der_x509_certificate(p.pki.tsa.certificate.der),
        chain=[root],
        policy=TSA_POLICY,
        serials=p.tsa.serials,
        clock=kernel_clock(),
    )
    try:
        token = tsa.stamp(data)
        info = verify_token(token, data, Trust([root]), policy=TSA_POLICY)
    except TimestampError as exc:
        raise KernelError("timestamp-unavailable", f"the kernel's own clock gives no attested time: {exc}") from None
    return Attested(info.gen_time, info.accuracy or 0.0, "embedded TSA key, kernel clock")
