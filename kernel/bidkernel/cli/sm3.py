"""``bidkernel sm3``: SM3 digests of files, printed and checked like ``sha256sum``."""

from __future__ import annotations

import sys
from typing import BinaryIO

import click

from bidkernel.crypto.sm3 import Sm3Hash, sm3_files

_CHUNK = 1 << 20


def _digest_stream(f: BinaryIO) -> bytes:
    h = Sm3Hash()
    while chunk := f.read(_CHUNK):
        h.update(chunk)
    return h.digest()


def _digest_names(names: list[str]) -> list[bytes | OSError]:
    """Digests in order; files in one parallel native batch, ``-`` from stdin."""
    files = [n for n in names if n != "-"]
    by_name = dict(zip(files, sm3_files(files), strict=True))
    return [_digest_stream(sys.stdin.buffer) if n == "-" else by_name[n] for n in names]


def _err(name: str, e: OSError) -> None:
    click.echo(f"bidkernel sm3: {name}: {e.strerror or e}", err=True)


def _parse_check_line(line: str) -> tuple[str, str] | None:
    line = line.rstrip("\r\n")
    if len(line) < 67 or line[64] != " " or line[65] not in " *":
        return None
    hexd, name = line[:64], line[66:]
    try:
        bytes.fromhex(hexd)
    except ValueError:
        return None
    return hexd.lower(), name


def _check(list_file: str, quiet: bool) -> int:
    stream = sys.stdin if list_file == "-" else open(list_file, encoding="utf-8")
    with stream:
        lines = [ln for ln in stream if ln.strip()]
    entries = [_parse_check_line(ln) for ln in lines]
    bad_lines = sum(e is None for e in entries)
    good = [e for e in entries if e is not None]
    if not good:
        raise click.ClickException(f"{list_file}: no properly formatted SM3 checksum lines found")
    results = _digest_names([name for _, name in good])
    mismatched = unreadable = 0
    for (want, name), got in zip(good, results, strict=True):
        if isinstance(got, OSError):
            _err(name, got)
            click.echo(f"{name}: FAILED open or read")
            unreadable += 1
        elif got.hex() == want:
            if not quiet:
                click.echo(f"{name}: OK")
        else:
            click.echo(f"{name}: FAILED")
            mismatched += 1
    if bad_lines:
        click.echo(f"bidkernel sm3: WARNING: {bad_lines} line(s) improperly formatted", err=True)
    if unreadable:
        click.echo(f"bidkernel sm3: WARNING: {unreadable} listed file(s) could not be read", err=True)
    if mismatched:
        click.echo(f"bidkernel sm3: WARNING: {mismatched} computed checksum(s) did NOT match", err=True)
    return 1 if (mismatched or unreadable or bad_lines) else 0


@click.command("sm3")
@click.argument("files", nargs=-1, type=str)
@click.option(
    "-c",
    "--check",
    "check_file",
    metavar="FILE",
    default=None,
    help="Read '<hex>  <name>' lines from FILE ('-' = stdin) and check each file; exit 1 on any mismatch.",
)
@click.option("--quiet", is_flag=True, help="With --check: print only failures.")
def sm3(files: tuple[str, ...], check_file: str | None, quiet: bool) -> None:
    """Print SM3 (GB/T 32905) digests of FILES like sha256sum: '<hex>  <name>'.

    With no FILES, or when a FILE is '-', read standard input. Files are streamed (never loaded
    whole) and hashed in parallel. Exit status 1 if a file cannot be read or a check fails.
    """
    if check_file is not None:
        if files:
            raise click.UsageError("--check takes the list file only; do not also name FILES")
        sys.exit(_check(check_file, quiet))
    names = list(files) or ["-"]
    status = 0
    for name, got in zip(names, _digest_names(names), strict=True):
        if isinstance(got, OSError):
            _err(name, got)
            status = 1
        else:
            click.echo(f"{got.hex()}  {name}")
    sys.exit(status)
