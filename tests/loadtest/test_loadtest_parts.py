"""The harness's parts: profile validation, the bid generator and schedule, the latency histogram, the CLI's
refusals, and the metrics the harness reads from a real kernel (fsync counter)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bidkernel.loadtest.generator import Timing, n_tenders, plan, schedule
from bidkernel.loadtest.hist import LatencyHistogram
from bidkernel.loadtest.profiles import REFERENCE, ProfileError, load_profile
from bidkernel.loadtest.server_stats import fsync_by_kind, fsync_total, parse_metrics

CLI = [sys.executable, "-c", "from bidkernel.cli.main import main; main()"]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_profiles_validate(name: str) -> None:
    p = load_profile(name)
    assert p["name"] == name and p["arrivals"][-1]["fraction"] == 1


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"tenderz": 3}, "unknown key 'tenderz'"),
        ({"tenders": "many"}, "tenders: expected int"),
        ({"scale": {"size": 0}}, "scale.size"),
        ({"scale": {"speed": 2}}, "scale: unknown key 'speed'"),
        ({"arrivals": [{"within_s": 10, "fraction": 0.5}]}, "fraction 1"),
        ({"arrivals": [{"within_s": 10, "fraction": 0.5}, {"within_s": 5, "fraction": 1}]}, "within_s must increase"),
        ({"envelopes": {"min": 3, "max": 21}}, "envelopes"),
        ({"bids_per_tender": {"median": 50, "p95": 10}}, "median <= tail"),
        ({"bid_size": {"mix": []}}, "bid_size.mix"),
    ],
)
def test_bad_profiles_are_refused_naming_the_key(tmp_path: Path, over: dict[str, object], needle: str) -> None:
    f = tmp_path / "p.json"
    f.write_bytes(orjson.dumps({"name": "x"} | over))
    with pytest.raises(ProfileError, match=None) as ei:
        load_profile(str(f))
    assert needle in str(ei.value)


def test_toml_profile_extends_a_reference(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('name = "mine"\nextends = "baseline"\ntenders = 7\n[scale]\nsize = 0.5\n')
    p = load_profile(str(f))
    assert p["tenders"] == 7 and p["scale"] == {
        "count": 1.0,
        "size": 0.5,
        "time": REFERENCE["baseline"]["scale"]["time"],
    }
    assert p["bid_size"] == REFERENCE["baseline"]["bid_size"]


def test_plan_is_reproducible_and_follows_the_profile() -> None:
    p = load_profile("stress")
    a, b = plan(p), plan(p)
    assert a == b and len(a) == n_tenders(p) == 30
    counts = sorted(sum(1 for x in t if not x.probe) for t in a)
    assert counts[len(counts) // 2] in range(2, 12)  # log-normal median 5
    assert all(1 <= c <= 1000 for c in counts)
    bids = [x for t in a for x in t if not x.probe]
    assert all(3 <= len(x.sizes) <= 20 for x in bids)
    # the arrival CDF: ~15% within the last 60 s, ~45% within the last hour
    near = sum(1 for x in bids if x.tau_s <= 60) / len(bids)
    hour = sum(1 for x in bids if x.tau_s <= 3600) / len(bids)
    assert 0.08 < near < 0.22 and 0.35 < hour < 0.55
    assert (
        load_profile("stress", overrides={"seed": 2})["seed"] == 2
        and plan(load_profile("stress", overrides={"seed": 2})) != a
    )


def test_schedule_is_open_model_and_probes_come_after_the_deadline() -> None:
    p = load_profile("smoke")
    tenders = plan(p)
    sched = schedule(p, tenders)
    tm = Timing.of(p)
    assert [s for s, _ in sched] == sorted(s for s, _ in sched)
    for s, bid in sched:
        dl = tm.deadline(bid.tender, len(tenders))
        if bid.probe:
            assert s == pytest.approx(dl + p["late_probe_after_s"])
        elif bid.tau_s <= p["window_s"]:
            assert s == pytest.approx(dl - bid.tau_s * p["scale"]["time"]) and s < dl
        else:
            assert 0 <= s < tm.preload_s
    assert sum(1 for _, b in sched if b.probe) == len(tenders) * p["late_probes_per_tender"]


def test_histogram_percentiles_match_exact_ones_within_precision() -> None:
    rng = random.Random(7)
    vals = sorted(rng.lognormvariate(-3, 1.2) for _ in range(20000))  # seconds
    h = LatencyHistogram()
    for v in vals:
        h.record(v)
    s = h.summary()
    assert s["count"] == len(vals)
    for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
        exact = vals[int(q * len(vals)) - 1] * 1000
        assert s[key] == pytest.approx(exact, rel=0.01)
    assert s["max"] == pytest.approx(vals[-1] * 1000, rel=0.001)
    assert sum(c for _, c in h.buckets()) == len(vals)
    assert LatencyHistogram().summary()["count"] == 0 and LatencyHistogram().encode() == ""


def test_metrics_parsing() -> None:
    text = (
        "# HELP bidkernel_fsync_total fsyncs\n# TYPE bidkernel_fsync_total counter\n"
        'bidkernel_fsync_total{kind="blob_dir"} 3.0\nbidkernel_fsync_total{kind="sqlite_commit"} 4.0\n'
        "process_cpu_seconds_total 1.5\n"
    )
    m = parse_metrics(text)
    assert fsync_total(m) == 7 and fsync_by_kind(m) == {"blob_dir": 3, "sqlite_commit": 4}
    assert m["process_cpu_seconds_total"] == 1.5 and fsync_total({}) is None


def test_kernel_metrics_count_fsyncs(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "intake"))
    from intake_support import start_kernel

    from bidkernel.client import KernelClient

    k = start_kernel(tmp_path)
    try:
        before = fsync_by_kind(parse_metrics(_metrics(k.url)))
        t = k.tender()
        k.client("bidder-1").submit(t["id"], k.seal("bidder-1", t["id"]))
        after = parse_metrics(_metrics(k.url))
        kinds = fsync_by_kind(after)
        assert kinds["blob_file"] - before["blob_file"] == 2  # summary + technical envelopes
        assert kinds["sqlite_commit"] > before["sqlite_commit"]
        assert after["process_resident_memory_bytes"] > 0
        assert isinstance(KernelClient(k.url).call("GET", "/healthz"), dict)
    finally:
        k.stop()


def _metrics(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:  # loopback only
        return str(r.read().decode())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--profile", "nope"], "neither a reference profile"),
        (["--url", "http://127.0.0.1:9"], "--url needs --pki"),
        (["--scale-size", "-1"], "scale.size"),
    ],
)
def test_cli_refuses_bad_options(tmp_path: Path, args: list[str], needle: str) -> None:
    r = subprocess.run(
        [*CLI, "loadtest", *args, "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and needle in r.stderr
    assert not (tmp_path / "o").exists()
