"""``bidkernel loadtest``: drive a kernel with a reference or custom load profile and report (docs/load_testing.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


@click.command("loadtest")
@click.option(
    "--profile",
    "profile_name",
    default="smoke",
    show_default=True,
    help="smoke, baseline, stress, or a .json/.toml profile file (docs/load_testing.md).",
)
@click.option("--url", default=None, help="Drive this running kernel (http://HOST:PORT) instead of starting one.")
@click.option(
    "--pki",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --url: the server's DATA/pki directory (its test CA issues the load-test identities).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("loadtest-report"),
    show_default=True,
    help="Directory for report.json, report.html, charts and server.log.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Sealed-bid cache (default: $XDG_CACHE_HOME or ~/.cache, /bidkernel/loadtest).",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Parent dir of the local server's data dir (put it on the disk under test; default: temp).",
)
@click.option("--keep-data", is_flag=True, help="Keep the local server's data dir after the run.")
@click.option("--scale-count", type=float, default=None, help="Override scale.count (tenders x F).")
@click.option("--scale-size", type=float, default=None, help="Override scale.size (bytes x F).")
@click.option("--scale-time", type=float, default=None, help="Override scale.time (durations x F).")
@click.option("--seed", type=int, default=None, help="Override the profile's seed.")
@click.option("--quiet", is_flag=True, help="No progress line.")
def loadtest(
    profile_name: str,
    url: str | None,
    pki: Path | None,
    out: Path,
    cache: Path | None,
    data: Path | None,
    keep_data: bool,
    scale_count: float | None,
    scale_size: float | None,
    scale_time: float | None,
    seed: int | None,
    quiet: bool,
) -> None:
    """Load-test the deadline peak and the opening; writes report.json and report.html.

    Exits 1 when the run found lost receipts, late acceptances, missing closing records or acknowledged
    bids missing from an opening; 2 on bad options or a profile that does not validate.
    """
    import os

    from bidkernel.loadtest.profiles import ProfileError, load_profile
    from bidkernel.loadtest.report import write_html, write_json
    from bidkernel.loadtest.runner import LoadTestError, Options, run

    over: dict[str, Any] = {}
    scale = {k: v for k, v in (("count", scale_count), ("size", scale_size), ("time", scale_time)) if v is not None}
    if scale:
        over["scale"] = scale
    if seed is not None:
        over["seed"] = seed
    try:
        prof = load_profile(profile_name, overrides=over)
    except ProfileError as exc:
        raise click.UsageError(f"profile: {exc}") from None
    if url is not None and pki is None:
        raise click.UsageError("--url needs --pki DIR (the server's DATA/pki; its test CA issues the bidders)")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    tty = sys.stderr.isatty()

    def progress(line: str, final: bool) -> None:
        if quiet:
            return
        if tty:
            sys.stderr.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    opts = Options(
        prof,
        out,
        cache or base / "bidkernel" / "loadtest",
        url=url,
        pki=pki,
        data=data,
        keep_data=keep_data,
        progress=progress,
    )
    try:
        report = run(opts)
    except LoadTestError as exc:
        raise click.ClickException(str(exc)) from None
    if tty and not quiet:
        sys.stderr.write("\n")
    write_json(report, out / "report.json")
    figs = write_html(report, out / "report.html")
    for name, text in figs.items():
        (out / f"{name}.svg").write_text(text, encoding="utf-8")
    c, lat, integ = report["counts"], report["latency_ms"]["corrected"], report["integrity"]
    click.echo(
        f"profile {prof['name']}: {c['accepted']} accepted, {c['rejected']} rejected "
        f"{report['rejected_by_type']}, {c['errors']} errors {report['errors_by_type']}; "
        f"late probes refused {c['late_probes_refused']}/{c['late_probes_sent']}"
    )
    click.echo(
        f"receipt latency (corrected) p50 {lat['p50']:.1f} p90 {lat['p90']:.1f} p99 {lat['p99']:.1f} "
        f"p99.9 {lat['p999']:.1f} max {lat['max']:.1f} ms; {report['throughput']['accepted_per_s']:.1f} bids/s, "
        f"{report['throughput']['bytes_per_s'] / 1e6:.2f} MB/s"
    )
    click.echo(
        f"receipts verified {integ['receipts_verified']}, lost receipts {integ['lost_receipts']}, "
        f"late acceptances {integ['late_acceptances']}"
    )
    op = report["opening"]
    if not op["available"]:
        click.echo(f"opening: SKIPPED — {op['note']}")
    else:
        click.echo(
            "opening: deadline -> 唱标 p50 {p50} max {max} ms; ".format(**op["summary_after_deadline_ms"])
            + "-> full decryption p50 {p50} max {max} ms; ".format(**op["finished_after_deadline_ms"])
            + f"acknowledged bids missing {op['unopened_acknowledged_bids']}"
        )
    click.echo(f"reports: {out / 'report.json'} {out / 'report.html'}")
    for w in report["verdict"]["warnings"]:
        click.echo(f"warning: {w}", err=True)
    if not report["verdict"]["ok"]:
        click.echo("FAIL: " + "; ".join(report["verdict"]["problems"]), err=True)
        sys.exit(1)
