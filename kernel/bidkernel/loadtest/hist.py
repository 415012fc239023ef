"""Latency histograms: HdrHistogram (Gil Tene's High Dynamic Range histogram, PyPI ``hdrhistogram``) in
microseconds from 1 µs to one hour at 3 significant digits, so p99.9 and max are exact to 0.1% whatever
the spread; the report carries the standard compressed encoding (``HISTFAAA...``) so runs from several
load machines can be merged with any HdrHistogram implementation."""

from __future__ import annotations

import math
from typing import Any

from hdrh.histogram import HdrHistogram

_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 3_600_000_000, 3


class LatencyHistogram:
    def __init__(self) -> None:
        self.h = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)

    def record(self, seconds: float) -> None:
        self.h.record_value(min(_HIGHEST_US, max(_LOWEST_US, round(seconds * 1e6))))

    @property
    def count(self) -> int:
        return int(self.h.get_total_count())

    def percentile_ms(self, q: float) -> float:
        return float(self.h.get_value_at_percentile(q)) / 1000 if self.count else 0.0

    def summary(self) -> dict[str, Any]:
        """count, p50, p90, p99, p99.9, max and mean in milliseconds (0 when empty)."""
        if not self.count:
            return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0, "mean": 0.0}
        return {
            "count": self.count,
            "p50": self.percentile_ms(50),
            "p90": self.percentile_ms(90),
            "p99": self.percentile_ms(99),
            "p999": self.percentile_ms(99.9),
            "max": float(self.h.get_max_value()) / 1000,
            "mean": float(self.h.get_mean_value()) / 1000,
        }

    def buckets(self, per_octave: int = 4) -> list[list[float]]:
        """[[upper bound ms, count], ...] on a log scale (``per_octave`` buckets per doubling), empty
        leading/trailing buckets dropped: what the HTML histogram draws."""
        counts: dict[int, int] = {}
        for it in self.h.get_recorded_iterator():
            ms = max(float(it.value_iterated_to) / 1000, 1e-3)
            k = math.ceil(math.log2(ms) * per_octave)
            counts[k] = counts.get(k, 0) + int(it.count_added_in_this_iter_step)
        if not counts:
            return []
        lo, hi = min(counts), max(counts)
        return [[round(2 ** (k / per_octave), 4), counts.get(k, 0)] for k in range(lo, hi + 1)]

    def encode(self) -> str:
        return str(self.h.encode().decode("ascii")) if self.count else ""
