"""The run's reports: ``report.json`` (schema :data:`SCHEMA_PATH`, format ``bidkernel/loadtest-report/v1``)
and ``report.html`` (self-contained: inline SVG charts, no script, nothing fetched)."""

from __future__ import annotations

from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from bidkernel.loadtest import svg

SCHEMA_PATH = Path(str(resources.files("bidkernel.loadtest").joinpath("report.schema.json")))


def schema() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(SCHEMA_PATH.read_bytes())
    return doc


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


def charts(r: dict[str, Any]) -> dict[str, str]:
    """name -> SVG text of every chart the HTML report shows (also written beside it as files)."""
    series = r["series"]
    xs = [float(s["t_s"]) for s in series]
    out = {
        "latency_over_time": svg.line_chart(
            "Receipt latency over time (corrected for coordinated omission)",
            "seconds since the start",
            "ms (log)",
            xs,
            {
                "p50": [s["p50_ms"] for s in series],
                "p99": [s["p99_ms"] for s in series],
                "max": [s["max_ms"] for s in series],
            },
            ylog=True,
        ),
        "latency_histogram": svg.bar_chart(
            "Receipt latency histogram (corrected)",
            "latency, ms (upper bound of log-spaced buckets)",
            "bids",
            [f"{b[0]:.0f}" if b[0] >= 10 else f"{b[0]:.2g}" for b in r["histogram_ms"]],
            [float(b[1]) for b in r["histogram_ms"]],
        ),
        "throughput": svg.line_chart(
            "Throughput (1 s buckets, by completion)",
            "seconds since the start",
            "per second",
            xs,
            {
                "scheduled (offered)": [s["scheduled"] for s in series],
                "accepted bids": [s["accepted"] for s in series],
                "rejected": [s["rejected"] for s in series],
                "errors": [s["errors"] for s in series],
            },
        ),
        "bytes": svg.line_chart(
            "Accepted envelope bytes per second",
            "seconds since the start",
            "MB/s",
            xs,
            {"MB/s": [s["bytes"] / 1e6 for s in series]},
        ),
    }
    samples = r["server"]["samples"]
    if any(s["cpu_percent"] is not None for s in samples):
        out["server"] = svg.line_chart(
            "Server CPU (% of one core) and fsyncs/s (gaps: /metrics unanswered)",
            "seconds since the start",
            "per second / %",
            [float(s["t_s"]) for s in samples],
            {"CPU %": [s["cpu_percent"] for s in samples], "fsync/s": [s["fsync_per_s"] for s in samples]},
        )
    if r["opening"]["available"]:
        rows = [
            (
                t["tender_id"],
                t["summary_after_deadline_ms"] / 1000 if t["summary_after_deadline_ms"] is not None else None,
                t["finished_after_deadline_ms"] / 1000 if t["finished_after_deadline_ms"] is not None else None,
            )
            for t in r["opening"]["tenders"]
        ]
        out["opening_timeline"] = svg.timeline("Opening timeline per tender", rows, "seconds after the deadline")
    return out


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def write_html(r: dict[str, Any], path: Path) -> dict[str, str]:
    c = r["counts"]
    lat = r["latency_ms"]["corrected"]
    unc = r["latency_ms"]["uncorrected"]
    integ = r["integrity"]
    th = r["throughput"]
    srv = r["server"]
    op = r["opening"]
    verdict = "PASS" if r["verdict"]["ok"] else "FAIL: " + "; ".join(r["verdict"]["problems"])
    figs = charts(r)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>bidkernel loadtest: {escape(r['profile']['name'])}</title>",
        "<style>body{font-family:sans-serif;max-width:820px;margin:1em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        "th{background:#f4f4f4;font-weight:normal}.ok{color:#070}.bad{color:#b00}</style></head><body>",
        f"<h1>bidkernel loadtest — profile {escape(r['profile']['name'])}</h1>",
        f"<p class='{'ok' if r['verdict']['ok'] else 'bad'}'><b>{escape(verdict)}</b></p>",
        *(f"<p class='bad'>warning: {escape(w)}</p>" for w in r["verdict"]["warnings"]),
        f"<p>{escape(r['profile'].get('description', ''))}</p>",
        _table(
            [
                ("target", f"{r['target']['url']} ({r['target']['mode']})"),
                ("started", r["started_at"]),
                ("bidkernel", r["bidkernel_version"]),
                ("machine", f"{r['machine']['cpus']} CPUs, {r['machine']['platform']}"),
                ("scale (count / size / time)", "{count:g} / {size:g} / {time:g}".format(**r["profile"]["scale"])),
                ("server clock offset", f"{r['target']['clock_offset_ms']} ms"),
            ]
        ),
        "<h2>Submissions</h2>",
        _table(
            [
                ("tenders", c["tenders"]),
                ("bids scheduled / sent", f"{c['scheduled']} / {c['sent']}"),
                ("accepted (receipted)", c["accepted"]),
                ("rejected", f"{c['rejected']} {r['rejected_by_type']}"),
                ("errors (no HTTP answer)", f"{c['errors']} {r['errors_by_type']}"),
                ("retries after 429", c["retries_overloaded"]),
                (
                    "sent before the deadline, refused deadline-passed (still in flight at the deadline)",
                    c["missed_deadline_in_flight"],
                ),
                (
                    "late probes sent / refused",
                    f"{c['late_probes_sent']} / {c['late_probes_refused']} {r['late_probes_by_outcome']}",
                ),
            ]
        ),
        "<h2>Integrity</h2>",
        _table(
            [
                ("receipts verified offline", integ["receipts_verified"]),
                ("lost receipts", integ["lost_receipts"]),
                ("late acceptances", integ["late_acceptances"]),
                ("live bids in closing records never acknowledged", integ["unacknowledged_in_closing"]),
                ("tenders without a closing record", len(integ["closing_missing"])),
            ]
        ),
    ]
    for item in integ["lost"][:20]:
        parts.append(
            f"<p class='bad'>lost: {escape(item['bid'])} ({escape(item['tender_id'])}): {escape(item['reason'])}</p>"
        )
    for item in integ["late"][:20]:
        parts.append(
            f"<p class='bad'>late: {escape(item['bid'])} bid {escape(item['bid_id'])} sent "
            f"{item['sent_after_deadline_ms']} ms after the deadline, received_ms "
            f"{item['received_ms']} (deadline {item['deadline_ms']})</p>"
        )
    parts += [
        "<h2>Receipt latency</h2>",
        "<table><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>",
        *(
            f"<tr><th>{name}</th><td>{x['count']}</td>"
            + "".join(f"<td>{x[k]:.1f} ms</td>" for k in ("p50", "p90", "p99", "p999", "max"))
            + "</tr>"
            for name, x in (("corrected (from scheduled start)", lat), ("uncorrected (from send)", unc))
        ),
        "</table>",
        figs["latency_over_time"],
        figs["latency_histogram"],
        "<h2>Throughput</h2>",
        _table(
            [
                ("drive phase", f"{th['drive_s']:.1f} s"),
                ("accepted bids/s (mean / peak 1 s)", f"{th['accepted_per_s']:.1f} / {th['peak_accepted_per_s']}"),
                (
                    "envelope MB/s (mean / peak 1 s)",
                    f"{th['bytes_per_s'] / 1e6:.2f} / {th['peak_bytes_per_s'] / 1e6:.2f}",
                ),
                ("envelope bytes accepted", th["bytes_accepted"]),
            ]
        ),
        figs["throughput"],
        figs["bytes"],
        "<h2>Server</h2>",
        _table(
            [
                ("source", srv["source"]),
                ("CPU seconds", srv["cpu_seconds"]),
                ("peak resident memory", f"{(srv['peak_rss_bytes'] or 0) / 2**20:.0f} MiB"),
                ("fsyncs", f"{srv['fsync_total']} {srv['fsync_by_kind']}"),
                ("harness CPU seconds (drive and openings)", r["harness"]["cpu_seconds"]),
            ]
        ),
        figs.get("server", ""),
        "<h2>Opening</h2>",
    ]
    if not op["available"]:
        parts.append(f"<p class='bad'><b>{escape(op['note'])}</b> — the opening phase was skipped, not passed.</p>")
    else:
        parts.append(
            _table(
                [
                    ("deadline → 唱标 table (p50 / max)", "{p50} / {max} ms".format(**op["summary_after_deadline_ms"])),
                    (
                        "deadline → full decryption (p50 / max)",
                        "{p50} / {max} ms".format(**op["finished_after_deadline_ms"]),
                    ),
                    ("acknowledged bids missing from the opening", op["unopened_acknowledged_bids"]),
                    ("opening-hall reads / p99", f"{op['viewer_requests']} / {op['viewer_latency_ms']['p99']:.1f} ms"),
                ]
            )
        )
        parts.append(figs["opening_timeline"])
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return figs
