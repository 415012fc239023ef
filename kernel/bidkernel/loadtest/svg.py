"""Inline SVG charts for the HTML report: no script, no network, readable without a browser plugin."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H = 760, 260
ML, MR, MT, MB = 64, 150, 28, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _nice(hi: float) -> float:
    if hi <= 0:
        return 1.0
    e = 10.0 ** math.floor(math.log10(hi))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= hi:
            return m * e
    return 10 * e


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e9:
        return f"{v / 1e9:g}G"
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _frame(
    title: str, xlabel: str, ylabel: str, xmax: float, ymax: float, *, ylog: bool = False, ymin: float = 0.0
) -> list[str]:
    pw, ph = W - ML - MR, H - MT - MB
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
        f'<text x="{ML + pw / 2}" y="{H - 6}" text-anchor="middle">{escape(xlabel)}</text>',
        f'<text x="14" y="{MT + ph / 2}" text-anchor="middle" transform="rotate(-90 14 {MT + ph / 2})">'
        f"{escape(ylabel)}</text>",
    ]
    for i in range(6):
        x = ML + pw * i / 5
        out.append(f'<line x1="{x:.1f}" y1="{MT + ph}" x2="{x:.1f}" y2="{MT + ph + 4}" stroke="#888"/>')
        out.append(f'<text x="{x:.1f}" y="{MT + ph + 16}" text-anchor="middle">{_fmt(xmax * i / 5)}</text>')
    if ylog:
        lo, hi = math.floor(math.log10(ymin)), math.ceil(math.log10(ymax))
        for k in range(lo, hi + 1):
            y = MT + ph - ph * (k - lo) / max(1, hi - lo)
            out.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{ML + pw}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{ML - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(10.0**k)}</text>')
    else:
        for i in range(5):
            y = MT + ph - ph * i / 4
            out.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{ML + pw}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{ML - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(ymax * i / 4)}</text>')
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, n in enumerate(names):
        y = MT + 12 + 16 * i
        c = COLORS[i % len(COLORS)]
        out.append(f'<rect x="{W - MR + 10}" y="{y - 8}" width="12" height="8" fill="{c}"/>')
        out.append(f'<text x="{W - MR + 26}" y="{y}">{escape(n)}</text>')
    return out


def line_chart(
    title: str,
    xlabel: str,
    ylabel: str,
    xs: Sequence[float],
    series: dict[str, Sequence[float | None]],
    *,
    ylog: bool = False,
) -> str:
    """Lines over a shared x axis; ``ylog`` draws the y axis in decades (zeros are skipped)."""
    pw, ph = W - ML - MR, H - MT - MB
    xmax = _nice(max(xs, default=1.0))
    vals = [v for s in series.values() for v in s if v is not None and (v > 0 or not ylog)]
    if ylog:
        pos = [v for v in vals if v > 0] or [1.0]
        ymin, ymax = 10 ** math.floor(math.log10(min(pos))), 10 ** math.ceil(math.log10(max(pos)))
        if ymax <= ymin:
            ymax = ymin * 10
    else:
        ymin, ymax = 0.0, _nice(max(vals, default=1.0))
    out = _frame(title, xlabel, ylabel, xmax, ymax, ylog=ylog, ymin=ymin)

    def y_of(v: float) -> float:
        if ylog:
            lo, hi = math.log10(ymin), math.log10(ymax)
            return float(MT + ph - ph * (math.log10(v) - lo) / (hi - lo))
        return float(MT + ph - ph * v / ymax)

    for i, (_name, ys) in enumerate(series.items()):
        c = COLORS[i % len(COLORS)]
        seg: list[str] = []
        for x, y in [*zip(xs, ys, strict=False), (0.0, None)]:
            if y is None or (ylog and y <= 0):  # a gap (no sample, or nothing to draw on a log axis)
                if len(seg) > 1:
                    out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{" ".join(seg)}"/>')
                elif seg:
                    px, py = seg[0].split(",")
                    out.append(f'<circle cx="{px}" cy="{py}" r="1.5" fill="{c}"/>')
                seg = []
            else:
                seg.append(f"{ML + pw * x / xmax:.1f},{y_of(y):.1f}")
    out += _legend(list(series))
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(title: str, xlabel: str, ylabel: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """Vertical bars, one per label (the latency histogram: log-spaced buckets)."""
    pw, ph = W - ML - MR, H - MT - MB
    ymax = _nice(max(values, default=1.0))
    out = _frame(title, "", ylabel, 1.0, ymax)
    out = [o for o in out if 'text-anchor="middle">' not in o or "font-size" in o or "rotate" in o]
    out.append(f'<text x="{ML + pw / 2}" y="{H - 6}" text-anchor="middle">{escape(xlabel)}</text>')
    n = max(1, len(values))
    bw = pw / n
    step = max(1, n // 8)
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        h = ph * v / ymax
        out.append(
            f'<rect x="{ML + i * bw + 1:.1f}" y="{MT + ph - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{COLORS[0]}"><title>{escape(lab)}: {v:g}</title></rect>'
        )
        if i % step == 0:
            out.append(
                f'<text x="{ML + i * bw + bw / 2:.1f}" y="{MT + ph + 16}" text-anchor="middle">{escape(lab)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def timeline(title: str, rows: Sequence[tuple[str, float | None, float | None]], xlabel: str) -> str:
    """Per tender: a bar from the deadline (0) to the 唱标 table and on to full decryption (seconds)."""
    n = max(1, len(rows))
    bar = max(3.0, min(14.0, 180 / n))
    height = int(MT + MB + n * (bar + 2))
    pw = W - ML - MR
    xmax = _nice(max([v for r in rows for v in r[1:] if v is not None] + [1.0]))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        f'<rect width="{W}" height="{height}" fill="white"/>',
        f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{ML + pw / 2}" y="{height - 6}" text-anchor="middle">{escape(xlabel)}</text>',
    ]
    for i in range(6):
        x = ML + pw * i / 5
        out.append(f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{height - MB}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{height - MB + 14}" text-anchor="middle">{_fmt(xmax * i / 5)}</text>')
    for i, (name, summary, full) in enumerate(rows):
        y = MT + i * (bar + 2)
        if bar >= 9:
            out.append(f'<text x="{ML - 4}" y="{y + bar - 2:.1f}" text-anchor="end">{escape(name[-10:])}</text>')
        if full is not None:
            out.append(
                f'<rect x="{ML}" y="{y:.1f}" width="{pw * full / xmax:.1f}" height="{bar:.1f}" fill="{COLORS[2]}"/>'
            )
        if summary is not None:
            out.append(
                f'<rect x="{ML}" y="{y:.1f}" width="{pw * summary / xmax:.1f}" height="{bar:.1f}" fill="{COLORS[0]}"/>'
            )
    leg = _legend(["deadline → 唱标 table", "deadline → full decryption"])
    leg[2] = leg[2].replace(COLORS[1], COLORS[2])
    out += leg
    out.append("</svg>")
    return "\n".join(out)
