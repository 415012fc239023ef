"""``bidkernel bench``: same-run measurements of bidkernel beside anchor libraries."""

from __future__ import annotations

import json
import os
import time

import click

from bidkernel import _native
from bidkernel.benchmark import crypto as crypto_bench
from bidkernel.benchmark.anchors import GMSSL_ENV, AnchorError, load_anchors


@click.group("bench")
def bench_group() -> None:
    """Measure bidkernel's throughput on this machine beside anchor libraries (same run)."""


@bench_group.command("crypto")
@click.option("--quick", is_flag=True, help="Tiny buffers and one short repetition (a smoke run, not figures).")
@click.option("--seconds", type=click.FloatRange(min=0.001), default=None, help="Timed seconds per repetition [0.3].")
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Repetitions per operation (median) [3].")
@click.option(
    "--gmssl",
    "gmssl",
    metavar="PATH",
    default=None,
    help=f"libgmssl.so (or its directory) of a GmSSL 3 build, as an anchor; default ${GMSSL_ENV}.",
)
@click.option("--no-libgcrypt", is_flag=True, help="Leave out the libgcrypt anchor.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the Markdown table.")
def crypto(
    quick: bool, seconds: float | None, rounds: int | None, gmssl: str | None, no_libgcrypt: bool, as_json: bool
) -> None:
    """One table: SM4 modes, SM3 and SM2 through bidkernel.crypto, each anchor's figure and the
    ratio, measured alternately in this run. Pin it to one core for single-core figures:
    `taskset -c 0 bidkernel bench crypto`."""
    s = crypto_bench.Settings.quick() if quick else crypto_bench.Settings()
    if seconds is not None or rounds is not None:
        s = crypto_bench.Settings(s.size, seconds or s.seconds, rounds or s.rounds, s.many)
    try:
        anchors = load_anchors(gmssl, want_gcrypt=not no_libgcrypt)
    except AnchorError as e:
        raise click.ClickException(f"anchor: {e}") from None
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load = os.getloadavg()
    rows = crypto_bench.run(anchors, s, progress=lambda op: click.echo(f"measuring {op} ...", err=True))
    names = [a.name for a in anchors]
    if as_json:
        out = {
            "started": started,
            "loadavg": load,
            "cpu": crypto_bench.cpu_line(),
            "backends": _native.crypto_backends(),
            "anchors": {a.name: a.version for a in anchors},
            "settings": {"size": s.size, "seconds": s.seconds, "rounds": s.rounds, "many": s.many},
            "rows": [
                {
                    "operation": r.operation,
                    "unit": r.unit,
                    "bidkernel": r.ours,
                    "anchors": r.anchors,
                    "ratios": {a: r.ratio(a) for a in names},
                }
                for r in rows
            ],
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(crypto_bench.table(rows, names))
    click.echo("")
    click.echo(crypto_bench.cpu_line())
    backends = ", ".join(f"{k} {v}" for k, v in sorted(_native.crypto_backends().items()))
    click.echo(f"bidkernel backends: {backends}; portable forced: {_native.portable_forced()}")
    click.echo("anchors: " + ("; ".join(a.version for a in anchors) or "none"))
    click.echo(
        f"run: {started}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{s.size} B buffers, {s.rounds} x {s.seconds} s per operation and side (median)"
    )
