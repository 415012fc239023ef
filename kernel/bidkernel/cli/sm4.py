"""``bidkernel sm4 encrypt|decrypt``: streaming SM4 file encryption (CBC, CTR, GCM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bidkernel.crypto import sm4 as _sm4
from bidkernel.crypto.errors import CryptoError

_FORMAT_HELP = """
\b
Modes and file formats:
  cbc  CBC with PKCS#7 padding; --iv is 16 bytes.
  ctr  CTR with a 128-bit big-endian counter; --iv is the 16-byte initial counter block.
  gcm  GCM; --iv is 12 bytes (other lengths >= 1 byte are accepted). The 16-byte tag is APPENDED
       to the ciphertext file on encryption and EXPECTED as the last 16 bytes on decryption.
       --aad is authenticated, not encrypted.

Files are streamed in 1 MiB pieces. OUT is written under a temporary name and renamed into place
only on success: when decryption fails (wrong key, tampered or truncated input, bad padding or tag)
no output file is left behind. The key is never printed.
"""


def _hex(name: str, value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("not a hex string", param_hint=name) from None


def _key(key_hex: str | None, key_file: Path | None) -> bytes:
    if (key_hex is None) == (key_file is None):
        raise click.UsageError("give exactly one of --key HEX or --key-file PATH")
    if key_hex is not None:
        key = _hex("--key", key_hex)
    else:
        assert key_file is not None
        raw = key_file.read_bytes()
        if len(raw) == _sm4.KEY_SIZE:
            key = raw
        else:
            try:
                key = bytes.fromhex(raw.decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                raise click.BadParameter("must hold 16 raw bytes or 32 hex digits", param_hint="--key-file") from None
    if len(key) != _sm4.KEY_SIZE:
        raise click.BadParameter(f"SM4 keys are 16 bytes (32 hex digits), got {len(key)} bytes", param_hint="key")
    return key


def _common(f: Any) -> Any:
    opts = [
        click.option("--mode", "-m", type=click.Choice(["cbc", "ctr", "gcm"], case_sensitive=False), required=True),
        click.option("--key", "key_hex", metavar="HEX", help="16-byte key as 32 hex digits."),
        click.option(
            "--key-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="File holding the key: 16 raw bytes or 32 hex digits.",
        ),
        click.option("--iv", "iv_hex", metavar="HEX", required=True, help="IV / initial counter block in hex."),
        click.option("--aad", "aad_hex", metavar="HEX", default="", help="GCM associated data in hex."),
        click.option(
            "-i",
            "--in",
            "src",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            required=True,
            help="Input file.",
        ),
        click.option(
            "-o", "--out", "dst", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output file."
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _run(op: str, mode: str, key: bytes, iv_hex: str, aad_hex: str, src: Path, dst: Path) -> None:
    iv = _hex("--iv", iv_hex)
    aad = _hex("--aad", aad_hex)
    if aad and mode != "gcm":
        raise click.BadParameter("only GCM takes associated data", param_hint="--aad")
    m = mode.lower()
    assert m in ("cbc", "ctr", "gcm")
    try:
        if op == "encrypt":
            _sm4.encrypt_file(m, key, iv, src, dst, aad=aad)  # type: ignore[arg-type]
        else:
            _sm4.decrypt_file(m, key, iv, src, dst, aad=aad)  # type: ignore[arg-type]
    except CryptoError as e:
        raise click.ClickException(f"{op}ion failed: {type(e).__name__}: {e}") from None
    except ValueError as e:
        raise click.ClickException(f"{op}ion failed: {e}") from None
    except OSError as e:
        raise click.ClickException(f"{op}ion failed: {e.strerror or e}") from None


@click.group("sm4")
def sm4() -> None:
    """SM4 (GB/T 32907) file encryption and decryption: CBC, CTR, GCM."""


@sm4.command("encrypt", epilog=_FORMAT_HELP)
@_common
def encrypt(
    mode: str, key_hex: str | None, key_file: Path | None, iv_hex: str, aad_hex: str, src: Path, dst: Path
) -> None:
    """Encrypt file IN into OUT with SM4 (streamed)."""
    _run("encrypt", mode, _key(key_hex, key_file), iv_hex, aad_hex, src, dst)


@sm4.command("decrypt", epilog=_FORMAT_HELP)
@_common
def decrypt(
    mode: str, key_hex: str | None, key_file: Path | None, iv_hex: str, aad_hex: str, src: Path, dst: Path
) -> None:
    """Decrypt file IN into OUT with SM4 (streamed; OUT appears only if padding/tag verify)."""
    _run("decrypt", mode, _key(key_hex, key_file), iv_hex, aad_hex, src, dst)
