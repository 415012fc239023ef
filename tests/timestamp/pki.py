"""Test PKI for the timestamp tests: a CA and TSA certificates built with ``cryptography`` (ECDSA P-256)
and with the ``openssl`` CLI (SM2), written as PEM files the OpenSSL tools read too.

This stands in for the CA helper (``bidkernel.crypto.ca``) until that lands.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    key_path: Path
    cert_path: Path

    @property
    def key_pem(self) -> bytes:
        return self.key_path.read_bytes()


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bidkernel test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _write(dir: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> Issued:
    kp, cp = dir / f"{stem}.key", dir / f"{stem}.pem"
    kp.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(key, cert, kp, cp)


def make_ca(dir: Path, cn: str = "Test Root CA", *, days: int = 3650) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(dir, cn.replace(" ", "_").lower(), key, cert)


def make_tsa(
    dir: Path,
    ca: Issued,
    cn: str = "Test TSA",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(hours=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(eku if eku is not None else [ExtendedKeyUsageOID.TIME_STAMPING]),
            critical=eku_critical,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    cert = b.sign(ca.key, hashes.SHA256())
    return _write(dir, cn.replace(" ", "_").lower(), key, cert)


def openssl(
    *args: str, cwd: Path | None = None, input: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(["openssl", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {res.stderr.decode(errors='replace')}")
    return res


def openssl_ts_config(
    dir: Path, tsa: Issued, ca: Issued, *, digest: str = "sha256", policy: str = "1.2.3.4.1", ess_alg: str | None = None
) -> Path:
    """An openssl.cnf for ``openssl ts -reply`` (an OpenSSL TSA for interop tests)."""
    (dir / "tsaserial").write_text("01\n")
    lines = [
        "[ tsa ]",
        "default_tsa = tsa_config1",
        "[ tsa_config1 ]",
        f"dir = {dir}",
        "serial = $dir/tsaserial",
        "crypto_device = builtin",
        f"signer_cert = {tsa.cert_path}",
        f"certs = {ca.cert_path}",
        f"signer_key = {tsa.key_path}",
        f"signer_digest = {digest}",
        f"default_policy = {policy}",
        "other_policies = 1.2.3.4.5",
        "digests = sha256, sha384, sha512, sm3",
        "accuracy = secs:1, millisecs:500, microsecs:100",
        "clock_precision_digits = 3",
        "ordering = no",
        "tsa_name = yes",
        "ess_cert_id_chain = no",
    ]
    if ess_alg:
        lines.append(f"ess_cert_id_alg = {ess_alg}")
    path = dir / "openssl-tsa.cnf"
    path.write_text("\n".join(lines) + "\n")
    return path
