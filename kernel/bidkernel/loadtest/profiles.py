"""Load profiles: the reference workload of ../shared/DOMAIN.md "Workload for load tests" and custom ones.

A profile describes one deadline slot as a trading center sees it (real seconds, real bytes) plus the
three documented factors that shrink it to the machine under test:

- ``scale.count`` multiplies the number of tenders (the per-tender distribution of bids keeps its shape);
- ``scale.size`` multiplies every envelope's bytes (floor :data:`MIN_ENVELOPE_BYTES`);
- ``scale.time`` multiplies every duration (window, preload, deadline spread, opening window): 0.1 replays
  ten real minutes in one.

The schema (JSON or TOML, every key optional except ``name``; defaults are :data:`SMOKE`'s) is documented in
docs/load_testing.md "Profile schema"; :func:`load_profile` refuses unknown keys and bad values with a
:class:`ProfileError` naming the key.
"""

from __future__ import annotations

import copy
import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any

import orjson

MIN_ENVELOPE_BYTES = 256


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the offending key."""


# --- the reference profiles (DOMAIN.md "Workload for load tests"), before scaling ----------------------------
_GOODS = {"name": "goods/services", "weight": 0.7, "median_bytes": 10_000_000, "p95_bytes": 80_000_000}
_WORKS = {"name": "works", "weight": 0.3, "median_bytes": 60_000_000, "p95_bytes": 400_000_000}

BASELINE: dict[str, Any] = {
    "name": "baseline",
    "description": "DOMAIN.md baseline slot: 30 tenders (20-40) closing in the same minute, bids log-normal "
    "(median 5, p95 30), goods median 10 MB / works median 60 MB, 3-5 envelopes; 60% of bids in the last 24 h, "
    "25% in the last hour, 5% in the last 5 min. The last hour is replayed on schedule; earlier bids are preloaded.",
    "seed": 1,
    "tenders": 30,
    "deadline_spread_s": 60.0,
    "bids_per_tender": {"median": 5, "p95": 30, "min": 1, "max": 1000},
    "bid_size": {"mix": [_GOODS, _WORKS], "outliers": {"fraction": 0.0, "min_bytes": 0, "max_bytes": 0}},
    "envelopes": {"min": 3, "max": 5},
    "arrivals": [
        {"within_s": 300, "fraction": 0.05},
        {"within_s": 3600, "fraction": 0.25},
        {"within_s": 86400, "fraction": 0.60},
        {"within_s": 604800, "fraction": 1.0},
    ],
    "window_s": 3600.0,
    "preload_s": 1200.0,
    "late_probes_per_tender": 1,
    "late_probe_after_s": 5.0,
    "opening": {"timeout_s": 1800.0, "viewers_per_bid": 1.0, "public_viewers": 5.0, "poll_s": 2.0, "max_viewers": 200},
    "scale": {"count": 1.0, "size": 0.01, "time": 1 / 60},
    "server": {"max_in_flight": 256},
    "client": {"max_connections": 512, "timeout_s": 120.0, "retries_when_overloaded": 5},
}

STRESS: dict[str, Any] = copy.deepcopy(BASELINE) | {
    "name": "stress",
    "description": "DOMAIN.md stress slot: 150 tenders, bids log-normal (median 5, p99 300, max 1000), 1-2 GB "
    "outliers, up to 20 envelopes, 15% of bids in the last 60 s; the last 10 minutes are replayed on schedule.",
    "tenders": 150,
    "bids_per_tender": {"median": 5, "p99": 300, "min": 1, "max": 1000},
    "bid_size": {
        "mix": [_GOODS, _WORKS],
        "outliers": {"fraction": 0.002, "min_bytes": 1_000_000_000, "max_bytes": 2_000_000_000},
    },
    "envelopes": {"min": 3, "max": 20},
    "arrivals": [
        {"within_s": 60, "fraction": 0.15},
        {"within_s": 300, "fraction": 0.25},
        {"within_s": 3600, "fraction": 0.45},
        {"within_s": 86400, "fraction": 0.75},
        {"within_s": 604800, "fraction": 1.0},
    ],
    "window_s": 600.0,
    "preload_s": 900.0,
    "opening": {"timeout_s": 1800.0, "viewers_per_bid": 1.0, "public_viewers": 20.0, "poll_s": 2.0, "max_viewers": 200},
    # scaled to a 2-core machine with one local disk: 1/5 of the tenders, 1/200 of the bytes, 10x faster
    "scale": {"count": 0.2, "size": 0.005, "time": 0.1},
}

SMOKE: dict[str, Any] = copy.deepcopy(BASELINE) | {
    "name": "smoke",
    "description": "A check of the whole harness in well under two minutes: 4 tenders closing within 2 s, "
    "small bids, the last 15 s replayed (half of the bids in the last 3 s), late probes, closing records, openings.",
    "tenders": 4,
    "deadline_spread_s": 2.0,
    "bids_per_tender": {"median": 8, "p95": 20, "min": 3, "max": 25},
    "window_s": 15.0,
    "preload_s": 3.0,
    "late_probe_after_s": 1.0,
    "arrivals": [{"within_s": 3, "fraction": 0.5}, {"within_s": 15, "fraction": 0.8}, {"within_s": 600, "fraction": 1}],
    "opening": {"timeout_s": 30.0, "viewers_per_bid": 1.0, "public_viewers": 5.0, "poll_s": 2.0, "max_viewers": 50},
    "scale": {"count": 1.0, "size": 0.002, "time": 1.0},
}

REFERENCE: dict[str, dict[str, Any]] = {"smoke": SMOKE, "baseline": BASELINE, "stress": STRESS}

_NUM = (int, float)
_TOP: dict[str, Any] = {
    "name": str,
    "description": str,
    "seed": int,
    "tenders": int,
    "deadline_spread_s": _NUM,
    "bids_per_tender": dict,
    "bid_size": dict,
    "envelopes": dict,
    "arrivals": list,
    "window_s": _NUM,
    "preload_s": _NUM,
    "late_probes_per_tender": int,
    "late_probe_after_s": _NUM,
    "opening": dict,
    "scale": dict,
    "server": dict,
    "client": dict,
}
_SUB: dict[str, dict[str, Any]] = {
    "bids_per_tender": {"median": _NUM, "p95": _NUM, "p99": _NUM, "min": int, "max": int},
    "envelopes": {"min": int, "max": int},
    "opening": {"timeout_s": _NUM, "viewers_per_bid": _NUM, "public_viewers": _NUM, "poll_s": _NUM, "max_viewers": int},
    "scale": {"count": _NUM, "size": _NUM, "time": _NUM},
    "server": {"max_in_flight": int},
    "client": {"max_connections": int, "timeout_s": _NUM, "retries_when_overloaded": int},
    "bid_size": {"mix": list, "outliers": dict},
}


def _check_type(where: str, v: Any, t: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, t):
        name = "number" if t is _NUM else getattr(t, "__name__", str(t))
        raise ProfileError(f"{where}: expected {name}, got {type(v).__name__}")


def _positive(where: str, v: float, *, zero_ok: bool = False) -> None:
    if not math.isfinite(v) or v < 0 or (v == 0 and not zero_ok):
        raise ProfileError(f"{where}: must be {'>= 0' if zero_ok else '> 0'}, got {v}")


def validate(p: dict[str, Any]) -> dict[str, Any]:
    """Check a profile merged over the defaults; returns it. Raises :class:`ProfileError`."""
    for k, v in p.items():
        if k not in _TOP:
            raise ProfileError(f"unknown key {k!r} (known: {', '.join(sorted(_TOP))})")
        _check_type(k, v, _TOP[k])
        if k in _SUB:
            for sk, sv in v.items():
                if sk not in _SUB[k]:
                    raise ProfileError(f"{k}: unknown key {sk!r} (known: {', '.join(sorted(_SUB[k]))})")
                _check_type(f"{k}.{sk}", sv, _SUB[k][sk])
    if p["tenders"] < 1:
        raise ProfileError("tenders: at least 1")
    b = p["bids_per_tender"]
    if "p95" not in b and "p99" not in b:
        raise ProfileError("bids_per_tender: give p95 or p99 (log-normal tail)")
    tail = b.get("p99", b.get("p95"))
    if not 0 < b["median"] <= tail:
        raise ProfileError("bids_per_tender: need 0 < median <= tail percentile")
    if not 1 <= b["min"] <= b["max"]:
        raise ProfileError("bids_per_tender: need 1 <= min <= max")
    e = p["envelopes"]
    if not 1 <= e["min"] <= e["max"] <= 20:
        raise ProfileError("envelopes: need 1 <= min <= max <= 20 (the 唱标 summary counts as one)")
    mix = p["bid_size"].get("mix", [])
    if not mix:
        raise ProfileError("bid_size.mix: at least one size class")
    for i, m in enumerate(mix):
        for key in ("weight", "median_bytes", "p95_bytes"):
            if key not in m:
                raise ProfileError(f"bid_size.mix[{i}]: {key} is required")
            _check_type(f"bid_size.mix[{i}].{key}", m[key], _NUM)
        _positive(f"bid_size.mix[{i}].weight", m["weight"])
        if not 0 < m["median_bytes"] <= m["p95_bytes"]:
            raise ProfileError(f"bid_size.mix[{i}]: need 0 < median_bytes <= p95_bytes")
    o = p["bid_size"].get("outliers", {"fraction": 0.0})
    if not 0 <= o.get("fraction", 0.0) < 1:
        raise ProfileError("bid_size.outliers.fraction: in [0, 1)")
    if o.get("fraction", 0.0) > 0 and not 0 < o.get("min_bytes", 0) <= o.get("max_bytes", 0):
        raise ProfileError("bid_size.outliers: need 0 < min_bytes <= max_bytes")
    arr = p["arrivals"]
    if not arr:
        raise ProfileError("arrivals: at least one {within_s, fraction} point")
    last_w, last_f = 0.0, 0.0
    for i, a in enumerate(arr):
        if not isinstance(a, dict) or set(a) != {"within_s", "fraction"}:
            raise ProfileError(f"arrivals[{i}]: exactly {{within_s, fraction}}")
        _check_type(f"arrivals[{i}].within_s", a["within_s"], _NUM)
        _check_type(f"arrivals[{i}].fraction", a["fraction"], _NUM)
        if a["within_s"] <= last_w or a["fraction"] < last_f or a["fraction"] > 1:
            raise ProfileError(f"arrivals[{i}]: within_s must increase and fraction must not decrease (max 1)")
        last_w, last_f = a["within_s"], a["fraction"]
    if abs(last_f - 1.0) > 1e-9:
        raise ProfileError("arrivals: the last point must have fraction 1 (every bid arrives)")
    for k in ("window_s", "preload_s", "deadline_spread_s", "late_probe_after_s"):
        _positive(k, p[k], zero_ok=k != "window_s")
    for k, v in p["scale"].items():
        _positive(f"scale.{k}", v)
    _positive("opening.timeout_s", p["opening"]["timeout_s"])
    _positive("opening.poll_s", p["opening"]["poll_s"])
    if p["client"]["max_connections"] < 1 or p["server"]["max_in_flight"] < 1:
        raise ProfileError("client.max_connections and server.max_in_flight: at least 1")
    return p


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k in _SUB and k != "bid_size" and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_profile(name_or_path: str, *, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A reference profile by name, or a custom one from a .json/.toml file (merged over ``extends``
    — a reference name, default smoke), then ``overrides`` (e.g. ``{"scale": {"size": 0.1}}``)."""
    if name_or_path in REFERENCE:
        prof = copy.deepcopy(REFERENCE[name_or_path])
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(f"{name_or_path!r} is neither a reference profile ({', '.join(REFERENCE)}) nor a file")
        try:
            raw: Any = (
                tomllib.loads(path.read_text("utf-8")) if path.suffix == ".toml" else orjson.loads(path.read_bytes())
            )
        except (tomllib.TOMLDecodeError, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
        if not isinstance(raw, dict):
            raise ProfileError(f"{path}: the profile must be an object/table")
        base = raw.pop("extends", "smoke")
        if base not in REFERENCE:
            raise ProfileError(f"extends: one of {', '.join(REFERENCE)}")
        if "name" not in raw:
            raise ProfileError(f"{path}: name is required")
        prof = _merge(REFERENCE[base], raw)
    if overrides:
        prof = _merge(prof, overrides)
    return validate(prof)


def cache_key(p: dict[str, Any], extra: str = "") -> str:
    """Digest of everything that decides the generated bids (not the schedule's timing)."""
    keys = ("seed", "tenders", "bids_per_tender", "bid_size", "envelopes")
    gen = {k: p[k] for k in keys} | {"count": p["scale"]["count"], "size": p["scale"]["size"], "extra": extra}
    return hashlib.sha256(orjson.dumps(gen, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
