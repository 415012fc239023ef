"""``bidkernel demo``: the main job on the embedded default.

For now a self-check of the native module and the crypto layer; it grows with each issue
until it runs a whole tender.
"""

from __future__ import annotations

import click

from bidkernel.selfcheck import run_selfcheck


@click.command()
def demo() -> None:
    """Run the kernel's main job on the embedded default and print what happened."""
    results = run_selfcheck()
    failed = 0
    for name, ok, detail in results:
        click.echo(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
        failed += not ok
    if failed:
        raise click.ClickException(f"{failed} self-check(s) failed")
    click.echo(f"demo: {len(results)} checks passed")
