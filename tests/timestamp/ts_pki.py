"""Test PKI for the timestamp tests: a CA and TSA certificates built with ``cryptography`` (ECDSA P-256)
and with the ``openssl`` CLI (SM2), written as PEM files the OpenSSL tools read too.

The kernel's ``bidkernel.crypto.ca.TestCA`` issues SM2 certificates only and without extendedKeyUsage, so the
ECDSA PKI and the OpenSSL-made SM2 PKI (OpenSSL's own behaviour is part of what is tested) live here.
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


_EXT = """
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[tsa_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[req]
distinguished_name = dn
[dn]
"""


@dataclass
class Sm2Pki:
    ca_key: Path
    ca_cert: Path
    tsa_key: Path
    tsa_cert: Path

    def load(self) -> tuple[x509.Certificate, x509.Certificate]:
        return (
            x509.load_pem_x509_certificate(self.ca_cert.read_bytes()),
            x509.load_pem_x509_certificate(self.tsa_cert.read_bytes()),
        )


def make_sm2_pki(dir: Path, *, distid: bool = True) -> Sm2Pki:
    """An SM2 root and an SM2 TSA certificate (SM2-with-SM3) made by the ``openssl`` CLI.

    ``distid=True`` signs with ``-sigopt distid:1234567812345678`` (GM/T 0015); OpenSSL 3.0's own default
    is an EMPTY ID."""
    dir.mkdir(parents=True, exist_ok=True)
    ext = dir / "ext.cnf"
    ext.write_text(_EXT)
    sig = ["-sigopt", "distid:1234567812345678"] if distid else []
    p = Sm2Pki(dir / "sm2-ca.key", dir / "sm2-ca.pem", dir / "sm2-tsa.key", dir / "sm2-tsa.pem")
    for key in (p.ca_key, p.tsa_key):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(key))
    openssl(
        "req", "-x509", "-new", "-key", str(p.ca_key), "-sm3", *sig, "-subj", "/O=bidkernel test/CN=SM2 Root",
        "-days", "3650", "-config", str(ext), "-extensions", "ca_ext", "-out", str(p.ca_cert),
    )  # fmt: skip
    csr = dir / "sm2-tsa.csr"
    openssl(
        "req", "-new", "-key", str(p.tsa_key), "-sm3", "-subj", "/O=bidkernel test/CN=SM2 TSA", "-config", str(ext),
        "-out", str(csr),
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(p.ca_cert), "-CAkey", str(p.ca_key), "-sm3", *sig,
        "-days", "365", "-extfile", str(ext), "-extensions", "tsa_ext", "-set_serial", "0x5151",
        "-out", str(p.tsa_cert),
    )  # fmt: skip
    return p
