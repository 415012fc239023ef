"""Per-client rate limits (DESIGN §3 "limits on size, count and rate"; 429 with Retry-After).

One token bucket per certificate fingerprint: ``burst`` tokens, refilled at ``rate`` per second; a
signed request takes one. Applied after authentication, so a client can only spend its own budget
(an unauthenticated flood is bounded by the global in-flight cap instead). The clock is injectable
(monotonic seconds) so tests need no wall-clock timing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_clients: int = 100_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def take(self, key: str) -> int:
        """0 if the request may proceed, else the whole seconds to wait (for Retry-After)."""
        if not self.enabled:
            return 0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0
            else:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            while len(self._buckets) > self._max:  # the least recently seen clients are forgotten (full buckets)
                self._buckets.popitem(last=False)
            return wait
