"""``bidkernel sm2``: SM2 key generation, signatures and encryption (GB/T 32918), scriptable in the
manner of ``openssl pkeyutl`` and ``gmssl sm2sign``.

Keys are read as OpenSSL writes them (PKCS#8 or SEC1, PEM or DER; SPKI or raw points for public
keys). Output files are written only when the whole operation succeeded (write to a temporary file
in the same directory, then rename), so a failure never leaves a partial file behind. A failed
verification or decryption prints a one-line message and exits with status 1.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, cast

import click

from bidkernel.crypto import sm2
from bidkernel.crypto.errors import CryptoError, DecryptionError, InvalidKey

STDIO = "-"


def _read(path: str) -> bytes:
    if path == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None


def _write(path: str | None, data: bytes, *, private: bool = False) -> None:
    """Write atomically (temp file + rename); ``None`` or ``-`` means stdout."""
    if path is None or path == STDIO:
        out = cast(BinaryIO, sys.stdout.buffer)
        out.write(data)
        out.flush()
        return
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_key(path: str) -> sm2.PrivateKey:
    try:
        return sm2.load_private_key(_read(path))
    except InvalidKey as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def _load_pub(path: str) -> bytes:
    data = _read(path)
    try:
        return sm2.load_public_key(data)
    except InvalidKey:
        pass
    # A private key file also carries the public key (like `openssl pkeyutl -inkey`).
    try:
        return sm2.load_private_key(data).public_key()
    except InvalidKey as exc:
        raise click.ClickException(f"{path}: not an SM2 public or private key ({exc})") from None


def _id_bytes(ident: str | None, id_hex: str | None) -> bytes:
    if ident is not None and id_hex is not None:
        raise click.UsageError("give --id or --id-hex, not both")
    if id_hex is not None:
        try:
            return bytes.fromhex(id_hex)
        except ValueError:
            raise click.UsageError("--id-hex is not hexadecimal") from None
    return sm2.DEFAULT_ID if ident is None else ident.encode()


_id_options = [
    click.option(
        "--id",
        "ident",
        default=None,
        help='Distinguishing ID as text (default "1234567812345678", GM/T 0009). '
        "OpenSSL's pkeyutl default is the empty ID: pass --id ''.",
    ),
    click.option("--id-hex", default=None, help="Distinguishing ID as hex bytes."),
]


def _with_id(f: Any) -> Any:
    for opt in reversed(_id_options):
        f = opt(f)
    return f


CT_FORMATS = click.Choice(["der", "c1c3c2", "c1c2c3"])


@click.group("sm2")
def sm2_group() -> None:
    """SM2 keys, signatures and encryption (GB/T 32918)."""


@sm2_group.command()
@click.option("-o", "--out", default=None, help="Private key file (PKCS#8 PEM); stdout if omitted.")
@click.option("--pubout", default=None, help="Also write the public key (SPKI PEM) here.")
@click.option("--der", "as_der", is_flag=True, help="Write DER instead of PEM.")
@click.option("--sec1", is_flag=True, help="Write the private key as SEC1 ECPrivateKey instead of PKCS#8.")
def keygen(out: str | None, pubout: str | None, as_der: bool, sec1: bool) -> None:
    """Generate a key pair from the OS CSPRNG."""
    key = sm2.generate_private_key()
    blob = key.to_sec1(pem=not as_der) if sec1 else key.to_pkcs8(pem=not as_der)
    _write(out, blob, private=True)
    if pubout is not None:
        _write(pubout, sm2.public_key_to_spki(key.public_key(), pem=not as_der))


@sm2_group.command()
@click.option("--key", "-k", "key_path", required=True, help="Private key (PEM or DER, PKCS#8 or SEC1).")
@click.option("--pubout", "-o", "out", default=None, help="Output file; stdout if omitted.")
@click.option("--der", "as_der", is_flag=True, help="Write DER instead of PEM.")
@click.option("--raw", "as_raw", is_flag=True, help="Write the raw 65-byte point 04||x||y.")
def pubkey(key_path: str, out: str | None, as_der: bool, as_raw: bool) -> None:
    """Write the public key (SPKI) of a private key."""
    pub = _load_key(key_path).public_key()
    _write(out, pub if as_raw else sm2.public_key_to_spki(pub, pem=not as_der))


@sm2_group.command()
@click.option("--key", "-k", "key_path", required=True, help="Private key (PEM or DER, PKCS#8 or SEC1).")
@_with_id
@click.option("--format", "fmt", type=click.Choice(["der", "raw"]), default="der", show_default=True)
@click.option("-i", "--in", "inp", default=STDIO, show_default=True, help="Message file.")
@click.option("-o", "--out", default=None, help="Signature file; stdout if omitted.")
def sign(key_path: str, ident: str | None, id_hex: str | None, fmt: str, inp: str, out: str | None) -> None:
    """Sign a file (SM3 over Z||M, GB/T 32918.2)."""
    uid = _id_bytes(ident, id_hex)
    key = _load_key(key_path)
    msg = _read(inp)
    try:
        sig = sm2.sign(key, msg, id=uid, fmt=cast(sm2.SigFormat, fmt))
    except (ValueError, CryptoError) as exc:
        raise click.ClickException(str(exc)) from None
    _write(out, sig)


@sm2_group.command()
@click.option("--pub", "pub_path", default=None, help="Public key (SPKI PEM/DER or raw point).")
@click.option("--key", "-k", "key_path", default=None, help="Or a private key file.")
@_with_id
@click.option("--format", "fmt", type=click.Choice(["der", "raw"]), default="der", show_default=True)
@click.option("--sig", "sig_path", required=True, help="Signature file.")
@click.option("-i", "--in", "inp", default=STDIO, show_default=True, help="Message file.")
@click.option("-q", "--quiet", is_flag=True, help="No output; the exit status tells.")
def verify(
    pub_path: str | None,
    key_path: str | None,
    ident: str | None,
    id_hex: str | None,
    fmt: str,
    sig_path: str,
    inp: str,
    quiet: bool,
) -> None:
    """Verify a signature; exit status 0 if valid, 1 if not."""
    if (pub_path is None) == (key_path is None):
        raise click.UsageError("give exactly one of --pub or --key")
    uid = _id_bytes(ident, id_hex)
    pub = _load_pub(cast(str, pub_path if pub_path is not None else key_path))
    sig = _read(sig_path)
    msg = _read(inp)
    try:
        ok = sm2.verify(pub, msg, sig, id=uid, fmt=cast(sm2.SigFormat, fmt))
    except (ValueError, CryptoError) as exc:
        raise click.ClickException(str(exc)) from None
    if not ok:
        if not quiet:
            click.echo("Verification failure: bad signature (or wrong key, ID or format)", err=True)
        sys.exit(1)
    if not quiet:
        click.echo("Signature verified OK")


@sm2_group.command()
@click.option("--pub", "pub_path", required=True, help="Recipient public key (SPKI or raw point), or a private key.")
@click.option("--format", "fmt", type=CT_FORMATS, default="der", show_default=True)
@click.option("-i", "--in", "inp", default=STDIO, show_default=True, help="Plaintext file.")
@click.option("-o", "--out", default=None, help="Ciphertext file; stdout if omitted.")
def encrypt(pub_path: str, fmt: str, inp: str, out: str | None) -> None:
    """Encrypt a (small) file to a public key (GB/T 32918.4; GM/T 0009 DER by default)."""
    pub = _load_pub(pub_path)
    data = _read(inp)
    try:
        ct = sm2.encrypt(pub, data, fmt=cast(sm2.CipherFormat, fmt))
    except (ValueError, CryptoError) as exc:
        raise click.ClickException(str(exc)) from None
    _write(out, ct)


@sm2_group.command()
@click.option("--key", "-k", "key_path", required=True, help="Private key (PEM or DER, PKCS#8 or SEC1).")
@click.option("--format", "fmt", type=CT_FORMATS, default="der", show_default=True)
@click.option("-i", "--in", "inp", default=STDIO, show_default=True, help="Ciphertext file.")
@click.option("-o", "--out", default=None, help="Plaintext file; stdout if omitted.")
def decrypt(key_path: str, fmt: str, inp: str, out: str | None) -> None:
    """Decrypt; exit status 1 and no output on any failure."""
    key = _load_key(key_path)
    data = _read(inp)
    try:
        pt = sm2.decrypt(key, data, fmt=cast(sm2.CipherFormat, fmt))
    except DecryptionError as exc:
        click.echo(f"Decryption failure: {exc}", err=True)
        sys.exit(1)
    except (ValueError, CryptoError) as exc:
        raise click.ClickException(str(exc)) from None
    _write(out, pt, private=True)
