"""``bidkernel bench crypto``: one table of bidkernel's SM2/SM3/SM4 throughput on this machine, with
the anchors' figures and the ratios, all measured in the same run.

Every operation is timed through the public ``bidkernel.crypto`` API (the Python call included),
and each anchor through ctypes (its call overhead included), alternating bidkernel and anchor
repetitions so that a change of machine load hits both. A figure is the median over the
repetitions of (units done / elapsed time). Run it pinned to one core (``taskset -c 0``) for
single-core figures: nothing here spreads work across threads except ``SM3 many``, whose native
batch uses rayon (``RAYON_NUM_THREADS=1`` keeps it on one core).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bidkernel import _native
from bidkernel.benchmark.anchors import Anchor, Op
from bidkernel.crypto import sm2, sm3, sm4

KEY, IV, NONCE = bytes(range(16)), bytes(16), bytes(12)
MESSAGE = bytes(range(32))


@dataclass(frozen=True)
class Settings:
    """Buffer size, timed seconds per repetition and repetitions per operation."""

    size: int = 1 << 20
    seconds: float = 0.3
    rounds: int = 3
    many: int = 1024

    @classmethod
    def quick(cls) -> Settings:
        return cls(size=64 << 10, seconds=0.01, rounds=1, many=64)


@dataclass
class Row:
    """One operation: bidkernel's rate and each anchor's (None: the anchor lacks it)."""

    operation: str
    unit: str
    ours: float
    anchors: dict[str, float | None] = field(default_factory=dict)

    def ratio(self, anchor: str) -> float | None:
        a = self.anchors.get(anchor)
        return self.ours / a if a else None


def _rate(fn: Op, units: float, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - t0
        if el >= seconds:
            return n * units / el


def _measure(
    ours: Op, theirs: dict[str, Op | None], units: float, s: Settings
) -> tuple[float, dict[str, float | None]]:
    ours()  # warm-up (tables, lazy initialisation)
    for f in theirs.values():
        if f is not None:
            f()
    mine: list[float] = []
    other: dict[str, list[float]] = {k: [] for k, f in theirs.items() if f is not None}
    for _ in range(s.rounds):
        mine.append(_rate(ours, units, s.seconds))
        for k in other:
            fn = theirs[k]
            assert fn is not None
            other[k].append(_rate(fn, units, s.seconds))
    return statistics.median(mine), {k: (statistics.median(other[k]) if k in other else None) for k in theirs}


def _our_ops(s: Settings) -> list[tuple[str, str, float, Op, str]]:
    """(operation, unit, units per call, bidkernel call, the anchor operation it is compared with)."""
    data = os.urandom(s.size)
    cbc = sm4.cbc_encrypt(KEY, IV, data, padding=False)
    piece = 1024
    bufs = [os.urandom(piece) for _ in range(s.many)]
    many = f"SM3 many ({s.many} x 1 KiB, vs one stream)"
    mb = s.size / 1e6
    key = sm2.generate_private_key()
    public = key.public_key()
    sig = sm2.sign(key, MESSAGE)
    ct = sm2.encrypt(public, MESSAGE)
    return [
        ("SM4-CTR", "MB/s", mb, lambda: sm4.ctr_encrypt(KEY, IV, data), "SM4-CTR"),
        ("SM4-GCM seal", "MB/s", mb, lambda: sm4.gcm_encrypt(KEY, NONCE, data), "SM4-GCM seal"),
        ("SM4-CBC decrypt", "MB/s", mb, lambda: sm4.cbc_decrypt(KEY, IV, cbc, padding=False), "SM4-CBC decrypt"),
        ("SM4-CBC encrypt", "MB/s", mb, lambda: sm4.cbc_encrypt(KEY, IV, data, padding=False), "SM4-CBC encrypt"),
        ("SM3", "MB/s", mb, lambda: sm3.sm3(data), "SM3"),
        (many, "MB/s", s.many * piece / 1e6, lambda: sm3.sm3_many(bufs), "SM3"),
        ("SM2 sign (32 B)", "ops/s", 1, lambda: sm2.sign(key, MESSAGE), "SM2 sign"),
        ("SM2 verify (32 B)", "ops/s", 1, lambda: sm2.verify(public, MESSAGE, sig), "SM2 verify"),
        ("SM2 encrypt (32 B)", "ops/s", 1, lambda: sm2.encrypt(public, MESSAGE), "SM2 encrypt"),
        ("SM2 decrypt (32 B)", "ops/s", 1, lambda: sm2.decrypt(key, ct), "SM2 decrypt"),
    ]


def run(anchors: list[Anchor], settings: Settings, progress: Callable[[str], None] | None = None) -> list[Row]:
    """Measures every operation, each beside the anchors that have it."""
    anchor_ops: dict[str, dict[str, Op]] = {}
    for a in anchors:
        ops = a.symmetric_ops(KEY, IV, os.urandom(settings.size))
        ops.update(a.sm2_ops(MESSAGE))
        anchor_ops[a.name] = ops
    rows = []
    for name, unit, units, ours, anchor_op in _our_ops(settings):
        if progress:
            progress(name)
        theirs = {a: ops.get(anchor_op) for a, ops in anchor_ops.items()}
        rate, others = _measure(ours, theirs, units, settings)
        rows.append(Row(name, unit, rate, others))
    return rows


def cpu_line() -> str:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = " ".join(n for n, present in _native.cpu_features() if present) or "none"
    return f"cpu: {model}; features: {flags}"


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def table(rows: list[Row], anchors: list[str]) -> str:
    """A Markdown table: operation, unit, bidkernel, then each anchor and the ratio against it."""
    head = ["operation", "unit", "bidkernel"]
    for a in anchors:
        head += [a, f"bidkernel / {a}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.operation, r.unit, _fmt(r.ours)]
        for a in anchors:
            ratio = r.ratio(a)
            cells += [_fmt(r.anchors.get(a)), "—" if ratio is None else f"{ratio:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
