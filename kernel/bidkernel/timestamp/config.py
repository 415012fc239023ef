"""TSA and clock configuration from a TOML file (see docs/operations.md, "Trusted time").

Paths are relative to the configuration file. The TSA key is read from ``key``; an encrypted PKCS#8 key
(ECDSA profile) takes its password from the environment variable named by ``key_password_env`` (never from
the file itself). The serial store defaults to ``$BIDKERNEL_DATA_DIR/timestamp/serial.sqlite``
(``BIDKERNEL_DATA_DIR`` defaults to ``$XDG_DATA_HOME/bidkernel``, i.e. ``~/.local/share/bidkernel``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from bidkernel.timestamp.clock import TrustedClock
from bidkernel.timestamp.errors import ConfigError
from bidkernel.timestamp.serials import SqliteSerialCounter
from bidkernel.timestamp.signers import DEFAULT_SM2_ID, load_signer, profile_by_name
from bidkernel.timestamp.tsa import DEFAULT_HASHES, TimeStampAuthority


def data_dir() -> Path:
    env = os.environ.get("BIDKERNEL_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bidkernel"


@dataclass(frozen=True)
class ClockConfig:
    mode: str = "system"
    max_skew: float = 1.0
    system_accuracy: float = 0.05
    resync_interval: float = 60.0
    grace: float = 300.0
    reference_urls: tuple[str, ...] = ()
    reference_cafile: Path | None = None
    reference_hash: str = "sha256"
    reference_timeout: float = 5.0


@dataclass(frozen=True)
class TSAConfig:
    profile: str
    key: Path
    cert: Path
    policy: str
    chain: tuple[Path, ...] = ()
    accepted_policies: tuple[str, ...] = ()
    hashes: tuple[str, ...] = DEFAULT_HASHES
    serial_db: Path = field(default_factory=lambda: data_dir() / "timestamp" / "serial.sqlite")
    sm2_id: bytes = DEFAULT_SM2_ID
    include_chain: bool = False
    include_tsa_name: bool = True
    precision_digits: int = 3
    key_password_env: str | None = None
    clock: ClockConfig = ClockConfig()


_REQUIRED: Any = object()


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
    if key not in table:
        if default is _REQUIRED:
            raise ConfigError(f"missing setting {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind):
        raise ConfigError(f"setting {key!r} has the wrong type")
    return value


def load_config(path: str | Path) -> TSAConfig:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration {path}: {type(exc).__name__}") from None
    base = path.parent
    tsa = doc.get("tsa")
    if not isinstance(tsa, dict):
        raise ConfigError("the configuration needs a [tsa] table")

    def rel(p: str) -> Path:
        return (base / p).resolve()

    c = doc.get("clock", {})
    if not isinstance(c, dict):
        raise ConfigError("[clock] must be a table")
    num = (int, float)
    clock = ClockConfig(
        mode=_get(c, "mode", str, "system"),
        max_skew=float(_get(c, "max_skew", num, 1.0)),
        system_accuracy=float(_get(c, "system_accuracy", num, 0.05)),
        resync_interval=float(_get(c, "resync_interval", num, 60.0)),
        grace=float(_get(c, "grace", num, 300.0)),
        reference_urls=tuple(_get(c, "reference_urls", list, [])),
        reference_cafile=rel(c["reference_cafile"]) if isinstance(c.get("reference_cafile"), str) else None,
        reference_hash=_get(c, "reference_hash", str, "sha256"),
        reference_timeout=float(_get(c, "reference_timeout", num, 5.0)),
    )
    if clock.mode not in ("system", "reference"):
        raise ConfigError("[clock] mode must be 'system' or 'reference'")
    if clock.mode == "reference" and (not clock.reference_urls or clock.reference_cafile is None):
        raise ConfigError("reference mode needs reference_urls and reference_cafile")
    serial = _get(tsa, "serial_db", str, None)
    return TSAConfig(
        profile=_get(tsa, "profile", str),
        key=rel(_get(tsa, "key", str)),
        cert=rel(_get(tsa, "cert", str)),
        policy=_get(tsa, "policy", str),
        chain=tuple(rel(p) for p in _get(tsa, "chain", list, [])),
        accepted_policies=tuple(_get(tsa, "accepted_policies", list, [])),
        hashes=tuple(_get(tsa, "hashes", list, list(DEFAULT_HASHES))),
        serial_db=rel(serial) if serial else data_dir() / "timestamp" / "serial.sqlite",
        sm2_id=_get(tsa, "sm2_id", str, DEFAULT_SM2_ID.decode()).encode(),
        include_chain=_get(tsa, "include_chain", bool, False),
        include_tsa_name=_get(tsa, "include_tsa_name", bool, True),
        precision_digits=int(_get(tsa, "precision_digits", int, 3)),
        key_password_env=_get(tsa, "key_password_env", str, None),
        clock=clock,
    )


def build_clock(cfg: ClockConfig) -> TrustedClock:
    if cfg.mode == "system":
        return TrustedClock(
            max_skew=cfg.max_skew,
            system_accuracy=cfg.system_accuracy,
            resync_interval=cfg.resync_interval,
            grace=cfg.grace,
        )
    from bidkernel.timestamp.client import TSAClient, TSAEndpoint, TSAReference
    from bidkernel.timestamp.verify import Trust

    assert cfg.reference_cafile is not None
    trust = Trust.from_files(cfg.reference_cafile)
    client = TSAClient(
        [TSAEndpoint(u, trust, hash_algorithm=cfg.reference_hash) for u in cfg.reference_urls],
        timeout=cfg.reference_timeout,
    )
    return TrustedClock(
        reference=TSAReference(client),
        max_skew=cfg.max_skew,
        resync_interval=cfg.resync_interval,
        grace=cfg.grace,
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {type(exc).__name__}") from None


def _certs(path: Path, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(_read(path, what))
    except ValueError:
        raise ConfigError(f"the {what} {path} holds no PEM certificate") from None


def build_authority(cfg: TSAConfig, *, clock: TrustedClock | None = None) -> TimeStampAuthority:
    """The TSA described by ``cfg`` (key, certificate, policy, serial store, clock)."""
    profile = profile_by_name(cfg.profile)
    password = None
    if cfg.key_password_env:
        value = os.environ.get(cfg.key_password_env)
        if value is None:
            raise ConfigError(f"the key password variable {cfg.key_password_env} is not set")
        password = value.encode()
    signer = load_signer(profile, _read(cfg.key, "TSA key"), password=password, sm2_id=cfg.sm2_id)
    cert = _certs(cfg.cert, "TSA certificate")[0]
    chain = [c for p in cfg.chain for c in _certs(p, "chain file")]
    return TimeStampAuthority(
        signer=signer,
        certificate=cert,
        chain=chain,
        policy=cfg.policy,
        accepted_policies=cfg.accepted_policies,
        hashes=cfg.hashes,
        serials=SqliteSerialCounter(cfg.serial_db),
        clock=clock or build_clock(cfg.clock),
        include_chain=cfg.include_chain,
        include_tsa_name=cfg.include_tsa_name,
        precision_digits=cfg.precision_digits,
    )
