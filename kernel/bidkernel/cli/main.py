"""Entry point of the ``bidkernel`` command (click).

Sub-command groups register themselves in :func:`build_cli`; each lives in its own module so the
command tree mirrors the package tree.
"""

from __future__ import annotations

import click

from bidkernel import __version__
from bidkernel.native_info import native_info


def _version_text() -> str:
    info = native_info()
    feats = " ".join(info.detected()) or "none"
    portable = " (portable path forced)" if info.portable_forced else ""
    backends = ", ".join(f"{k} {v}" for k, v in info.crypto_backends) or "none"
    return (
        f"bidkernel {__version__}\nnative {info.version}, {info.build_profile} build{portable}\ncpu features: {feats}"
        f"\ncrypto backends: {backends}"
    )


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(_version_text())
    ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version, the native build profile and the detected CPU features.",
)
def cli() -> None:
    """bidkernel: sealed-bid intake, SM2/SM3/SM4, trusted time, a transparency log, bulk opening."""


# (module, attribute) of every command group; one line each, so branches adding groups merge cleanly.
_COMMANDS: list[tuple[str, str]] = [
    ("bidkernel.cli.demo", "demo"),
    ("bidkernel.cli.sm2", "sm2_group"),
    ("bidkernel.cli.sm3", "sm3"),
    ("bidkernel.cli.sm4", "sm4"),
    ("bidkernel.cli.ledger", "ledger"),
    ("bidkernel.cli.ts", "ts_group"),
    ("bidkernel.cli.intake", "serve"),
    ("bidkernel.cli.intake", "bid_group"),
    ("bidkernel.cli.intake", "receipt_group"),
    ("bidkernel.cli.plugins", "plugins_cmd"),
    ("bidkernel.cli.plugins", "outbox_group"),
    ("bidkernel.cli.intake", "roles_group"),
    ("bidkernel.cli.opening", "open_cmd"),
    ("bidkernel.cli.opening", "custody_group"),
    ("bidkernel.cli.loadtest", "loadtest"),
    ("bidkernel.cli.bench", "bench_group"),
]


def build_cli() -> click.Group:
    import importlib

    for module, attr in _COMMANDS:
        cli.add_command(getattr(importlib.import_module(module), attr))
    from bidkernel.cli.plugins import add_plugin_commands

    add_plugin_commands(cli)  # `bidkernel <plugin> ...`, after the kernel's own (which win a name clash)
    return cli


def main() -> None:
    build_cli()(prog_name="bidkernel")
