"""The server's side of a run, sampled once a second in a thread: CPU and resident memory from
``/proc/<pid>`` when the harness started the server itself, else from the server's ``/metrics``
(``process_cpu_seconds_total``, ``process_resident_memory_bytes``); fsyncs from ``/metrics``
(``bidkernel_fsync_total{kind}``, counted where the kernel fsyncs: blob files, their directories and
SQLite commits with ``synchronous=FULL``)."""

from __future__ import annotations

import http.client
import os
import threading
import time
import urllib.parse
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {"name{labels}": value} (comments skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def fsync_total(m: dict[str, float]) -> float | None:
    vals = [v for k, v in m.items() if k.startswith("bidkernel_fsync_total")]
    return sum(vals) if vals else None


def fsync_by_kind(m: dict[str, float]) -> dict[str, float]:
    out = {}
    for k, v in m.items():
        if k.startswith("bidkernel_fsync_total{"):
            kind = k.split('kind="', 1)[-1].split('"', 1)[0]
            out[kind] = v
    return out


def proc_sample(pid: int) -> tuple[float, int] | None:
    """(CPU seconds user+system, resident bytes) of ``pid`` from /proc, or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
        return cpu, rss
    except (OSError, IndexError, ValueError):
        return None


class ServerSampler:
    def __init__(self, url: str, pid: int | None, t0: float, interval_s: float = 1.0) -> None:
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.pid, self.t0, self.interval = pid, t0, interval_s
        self.samples: list[dict[str, Any]] = []
        self.last_metrics: dict[str, float] = {}
        self.first_metrics: dict[str, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="server-sampler", daemon=True)
        self.source = "proc" if pid is not None else "metrics"

    def _metrics(self) -> dict[str, float]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            text = r.read().decode("utf-8", "replace")
            return parse_metrics(text) if r.status == 200 else {}
        except OSError:
            return {}
        finally:
            conn.close()

    def sample(self) -> None:
        m = self._metrics()
        if m:
            self.last_metrics = m
            if self.first_metrics is None:
                self.first_metrics = m
        cpu: float | None = None
        rss: float | None = None
        if self.pid is not None:
            ps = proc_sample(self.pid)
            if ps is not None:
                cpu, rss = ps
        else:
            cpu = m.get("process_cpu_seconds_total")
            rss = m.get("process_resident_memory_bytes")
        self.samples.append(
            {
                "t_s": round(time.monotonic() - self.t0, 3),
                "cpu_seconds": cpu,
                "rss_bytes": int(rss) if rss is not None else None,
                "fsync_total": fsync_total(m) if m else None,
            }
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sample()

    def summary(self) -> dict[str, Any]:
        """Totals over the run plus per-sample CPU % (of one core) and fsyncs/s."""
        rows = []
        seen: dict[str, tuple[float, float]] = {}  # metric -> (t_s, value) of the last sample that had it
        for s in self.samples:
            row = dict(s)
            for key, out, scale in (("cpu_seconds", "cpu_percent", 100.0), ("fsync_total", "fsync_per_s", 1.0)):
                row[out] = None
                v = s[key]
                if v is None:
                    continue  # e.g. /metrics refused with 429 while the server is overloaded: a gap, not a zero
                if key in seen and s["t_s"] > seen[key][0]:
                    row[out] = round(scale * (v - seen[key][1]) / (s["t_s"] - seen[key][0]), 1)
                seen[key] = (s["t_s"], v)
            rows.append(row)
        cpus = [s["cpu_seconds"] for s in self.samples if s["cpu_seconds"] is not None]
        rss = [s["rss_bytes"] for s in self.samples if s["rss_bytes"] is not None]
        fs = [s["fsync_total"] for s in self.samples if s["fsync_total"] is not None]
        first = fsync_by_kind(self.first_metrics or {})
        last = fsync_by_kind(self.last_metrics)
        return {
            "source": self.source if cpus else "none",
            "pid": self.pid,
            "cpu_seconds": round(cpus[-1] - cpus[0], 3) if len(cpus) > 1 else None,
            "peak_rss_bytes": max(rss) if rss else None,
            "fsync_total": int(fs[-1] - fs[0]) if len(fs) > 1 else None,
            "fsync_by_kind": {k: int(v - first.get(k, 0.0)) for k, v in sorted(last.items())},
            "samples": rows,
        }
