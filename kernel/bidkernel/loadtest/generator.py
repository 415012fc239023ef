"""The bid generator shared by ``bidkernel loadtest`` and benchmarks/load/locustfile.py.

:func:`plan` draws, from the profile's seed alone, how many bids each tender gets (log-normal with the
profile's median and tail), each bid's size (a weighted mix of log-normal size classes plus rare
outliers, times ``scale.size``), its envelope count (the 唱标 summary plus documents) and when it
arrives (seconds before the deadline, inverse of the piecewise-linear arrival CDF).

:class:`BidCache` seals every planned bid once — real GM/T 0010 envelopes to a loadtest opening
certificate, real SM2 signatures by per-slot bidder certificates from the test CA — into a cache
directory keyed by the generating parameters (:func:`~bidkernel.loadtest.profiles.cache_key`), so the
sealing is never what a run measures. A package's manifest names its tender, whose id the server
assigns, so the manifest is written per run (:meth:`BidCache.package`); the envelopes are reused.
"""

from __future__ import annotations

import base64
import math
import os
import random
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bidkernel.client import Package
from bidkernel.crypto import sm2
from bidkernel.crypto.ca import Issued, TestCA
from bidkernel.crypto.envelope import envelope_header, seal_file, sign_digest
from bidkernel.crypto.sm3 import sm3_file
from bidkernel.crypto.x509 import Certificate
from bidkernel.intake import PACKAGE_FORMAT, SUMMARY
from bidkernel.loadtest.profiles import MIN_ENVELOPE_BYTES, cache_key
from bidkernel.platform import Pki, issue_opening_certificate

_Z = {"p95": 1.6448536269514722, "p99": 2.3263478740408408}
_DOC_NAMES = ("commercial", "technical", "qualification")


@dataclass(frozen=True)
class PlannedBid:
    tender: int  # index of the tender in the slot
    slot: int  # bidder slot within the tender (one bidder per slot: a second bid would replace the first)
    tau_s: float  # real seconds before the deadline at which it arrives (< 0: a late probe)
    sizes: tuple[int, ...]  # plaintext bytes per envelope, the 唱标 summary first
    probe: bool = False

    @property
    def name(self) -> str:
        return f"t{self.tender}-s{self.slot}"

    @property
    def nbytes(self) -> int:
        return sum(self.sizes)


def _lognormal(rng: random.Random, median: float, tail: float, z: float) -> float:
    sigma = math.log(tail / median) / z if tail > median else 0.0
    return rng.lognormvariate(math.log(median), sigma)


def _arrival(rng: random.Random, points: list[dict[str, float]]) -> float:
    u = rng.random()
    prev_w, prev_f = 0.0, 0.0
    for pt in points:
        w, f = float(pt["within_s"]), float(pt["fraction"])
        if u < f and f > prev_f:
            return prev_w + (u - prev_f) / (f - prev_f) * (w - prev_w)
        prev_w, prev_f = w, f
    return prev_w


def n_tenders(p: dict[str, Any]) -> int:
    return max(1, round(float(p["tenders"]) * float(p["scale"]["count"])))


def plan(p: dict[str, Any]) -> list[list[PlannedBid]]:
    """Per tender, its bids (arrival order not implied) followed by its late probes."""
    rng = random.Random(p["seed"])  # noqa: S311 - reproducible workload, not secrets
    b = p["bids_per_tender"]
    tail_key = "p99" if "p99" in b else "p95"
    mix = p["bid_size"]["mix"]
    weights = [float(m["weight"]) for m in mix]
    out = p["bid_size"].get("outliers", {})
    scale = float(p["scale"]["size"])
    env = p["envelopes"]
    tenders: list[list[PlannedBid]] = []
    for t in range(n_tenders(p)):
        n = round(_lognormal(rng, b["median"], b[tail_key], _Z[tail_key]))
        n = min(max(n, b["min"]), b["max"])
        bids = []
        for s in range(n + p["late_probes_per_tender"]):
            if out.get("fraction", 0) and rng.random() < out["fraction"]:
                total = rng.uniform(out["min_bytes"], out["max_bytes"])
            else:
                m = rng.choices(mix, weights)[0]
                total = _lognormal(rng, m["median_bytes"], m["p95_bytes"], _Z["p95"])
            total = max(total * scale, MIN_ENVELOPE_BYTES)
            k = rng.randint(env["min"], env["max"])
            shares = [rng.uniform(0.2, 1.0) for _ in range(k - 1)]
            docs = [max(MIN_ENVELOPE_BYTES, int(total * w / sum(shares))) for w in shares]
            sizes = (MIN_ENVELOPE_BYTES, *docs) if docs else (max(MIN_ENVELOPE_BYTES, int(total)),)
            probe = s >= n
            tau = -1.0 if probe else _arrival(rng, p["arrivals"])
            bids.append(PlannedBid(t, s, tau, sizes, probe))
        tenders.append(bids)
    return tenders


@dataclass(frozen=True)
class Timing:
    """The run's clock in test seconds from the start of the drive phase."""

    preload_s: float
    window_s: float
    spread_s: float
    late_after_s: float

    @classmethod
    def of(cls, p: dict[str, Any]) -> Timing:
        ts = float(p["scale"]["time"])
        return cls(p["preload_s"] * ts, p["window_s"] * ts, p["deadline_spread_s"] * ts, float(p["late_probe_after_s"]))

    def deadline(self, tender: int, n: int) -> float:
        """Tender ``tender``'s deadline (of ``n`` tenders), spread evenly over the slot."""
        return self.preload_s + self.window_s + (self.spread_s * tender / (n - 1) if n > 1 else 0.0)


def schedule(p: dict[str, Any], tenders: list[list[PlannedBid]]) -> list[tuple[float, PlannedBid]]:
    """(test seconds from start, bid) for every bid and probe, sorted: bids inside the window arrive at
    deadline - tau x scale.time (open model: regardless of responses); earlier ones are spread evenly
    over the preload phase, earliest first; late probes come ``late_probe_after_s`` after the deadline."""
    tm = Timing.of(p)
    ts = float(p["scale"]["time"])
    out: list[tuple[float, PlannedBid]] = []
    early: list[PlannedBid] = []
    for bids in tenders:
        for bid in bids:
            dl = tm.deadline(bid.tender, len(tenders))
            if bid.probe:
                out.append((dl + tm.late_after_s, bid))
            elif bid.tau_s <= p["window_s"]:
                out.append((dl - bid.tau_s * ts, bid))
            else:
                early.append(bid)
    early.sort(key=lambda b: -b.tau_s)
    for i, bid in enumerate(early):
        out.append((tm.preload_s * i / max(1, len(early)), bid))
    out.sort(key=lambda x: x[0])
    return out


# --------------------------------------------------------------------------------------------- sealing cache
def _save(issued: Issued, d: Path, name: str) -> None:
    (d / f"{name}.pem").write_bytes(issued.certificate.to_pem())
    key = d / f"{name}.key"
    key.touch(mode=0o600)
    key.write_bytes(issued.key.to_pkcs8(True))


def _load(d: Path, name: str) -> Issued:
    return Issued(
        Certificate.load((d / f"{name}.pem").read_bytes()), sm2.load_private_key((d / f"{name}.key").read_bytes())
    )


class BidCache:
    """Sealed packages and the identities that signed them, under ``root/<cache key>/``.

    ``pki_dir``: a kernel's pki directory whose CA issues the identities (``--url`` mode: the server's
    ``DATA/pki``); None: the cache keeps a CA of its own, copied into the local server's data dir."""

    def __init__(self, root: Path, profile: dict[str, Any], pki_dir: Path | None = None) -> None:
        self.profile = profile
        extra = "own-ca"
        if pki_dir is not None:
            extra = Certificate.load((pki_dir / "ca.pem").read_bytes()).fingerprint.hex()
        self.dir = root / f"{profile['name']}-{cache_key(profile, extra)}"
        self.pki_dir: Path = self.dir / "pki" if pki_dir is None else pki_dir
        self.ids_dir = self.dir / "ids"
        self.bids_dir = self.dir / "bids"
        self.plan = plan(profile)
        self._ids: dict[str, Issued] = {}

    @property
    def ca(self) -> TestCA:
        return Pki.load_or_create(self.pki_dir).ca

    def identity(self, name: str) -> Issued:
        if name not in self._ids:
            self._ids[name] = _load(self.ids_dir, name)
        return self._ids[name]

    def bidder(self, slot: int) -> Issued:
        return self.identity(f"bidder-{slot}")

    @property
    def agency(self) -> Issued:
        return self.identity("agency")

    @property
    def opener(self) -> Issued:
        return self.identity("opening")

    def ready(self) -> bool:
        return (self.dir / "complete").is_file() and (self.dir / "complete").read_text() == _CACHE_VERSION

    def build(self, progress: Callable[[str], None] | None = None) -> float:
        """Create the identities and seal every planned bid (skipped when cached); returns seconds spent."""
        if self.ready():
            return 0.0
        t0 = time.perf_counter()
        shutil.rmtree(self.ids_dir, ignore_errors=True)
        shutil.rmtree(self.bids_dir, ignore_errors=True)
        self.ids_dir.mkdir(parents=True)
        self.bids_dir.mkdir(parents=True)
        ca = Pki.load_or_create(self.pki_dir).ca
        _save(ca.issue("CN=loadtest agency,OU=agency,O=loadtest agency"), self.ids_dir, "agency")
        _save(issue_opening_certificate(ca, "CN=loadtest opening key,O=loadtest agency"), self.ids_dir, "opening")
        slots = max(len(b) for b in self.plan)
        for s in range(slots):
            _save(ca.issue(f"CN=loadtest bidder {s},OU=bidder,O=loadtest bidder {s}"), self.ids_dir, f"bidder-{s}")
        opening = [self.opener.certificate]
        total = sum(len(b) for b in self.plan)
        done = 0
        tmp = self.dir / "plain.tmp"
        for bids in self.plan:
            for bid in bids:
                self._seal(bid, opening, tmp)
                done += 1
                if progress is not None and (done % 50 == 0 or done == total):
                    progress(f"sealing {done}/{total} bid packages into {self.dir}")
        tmp.unlink(missing_ok=True)
        (self.dir / "complete").write_text(_CACHE_VERSION)
        return time.perf_counter() - t0

    def _seal(self, bid: PlannedBid, opening: list[Certificate], tmp: Path) -> None:
        who = self.bidder(bid.slot)
        d = self.bids_dir / bid.name
        d.mkdir()
        entries = []
        keys: dict[str, list[Any]] = {}
        names = [SUMMARY] + [
            _DOC_NAMES[i] if i < len(_DOC_NAMES) else f"annex-{i - len(_DOC_NAMES) + 1}"
            for i in range(len(bid.sizes) - 1)
        ]
        for name, size in zip(names, bid.sizes, strict=True):
            if name == SUMMARY:
                head = orjson.dumps({"bidder": who.certificate.subject, "price": 1000 + bid.slot, "days": 120})
                tmp.write_bytes(head + b" " * max(0, size - len(head)))
            else:
                with open(tmp, "wb") as f:
                    left = size
                    while left:
                        n = min(left, 1 << 20)
                        f.write(os.urandom(n))
                        left -= n
            dst = d / f"{name}.env"
            # the content key stays in the cache (test data) so a run can re-address the same ciphertext
            # to the opening key its tender gets at publication (see ``package``)
            ck, iv = secrets.token_bytes(16), secrets.token_bytes(16)
            keys[name] = [ck.hex(), iv.hex(), size]
            sealed = seal_file(tmp, dst, opening, content_key=ck, iv=iv)
            digest = sm3_file(dst)
            sig = sign_digest(digest, who.key, who.certificate)
            entries.append(
                {"name": name, "sm3": digest.hex(), "size": sealed, "signature": base64.b64encode(sig).decode()}
            )
        (d / "entries.json").write_bytes(orjson.dumps(entries))
        (d / "keys.json").write_bytes(orjson.dumps(keys))

    def run_dir(self, tender_id: str, bid: PlannedBid) -> Path:
        return self.dir / "run" / tender_id / bid.name

    def clear_runs(self) -> None:
        """Drop the envelopes re-addressed for earlier runs' tenders."""
        shutil.rmtree(self.dir / "run", ignore_errors=True)

    def package(self, bid: PlannedBid, tender_id: str, opening: Sequence[Certificate] | None = None) -> Package:
        """The sealed package for ``bid`` addressed to the server's ``tender_id`` (manifest written here).

        With ``opening`` (the certificates the tender got at publication, e.g. the kernel-generated
        platform-custody key), each cached envelope is re-addressed: a new GM/T 0010 header wrapping the
        same content key to those certificates, the cached ciphertext unchanged, and the bidder's signature
        over the new file's SM3. The result is kept per tender, so later calls (Locust workers, the
        verifier) find it without ``opening``.
        """
        d = self.bids_dir / bid.name
        entries = orjson.loads((d / "entries.json").read_bytes())
        rd = self.run_dir(tender_id, bid)
        if opening is not None and not (rd / "entries.json").is_file():
            self._readdress(bid, d, rd, entries, opening)
        if (rd / "entries.json").is_file():
            d, entries = rd, orjson.loads((rd / "entries.json").read_bytes())
        manifest = {"format": PACKAGE_FORMAT, "tender_id": tender_id, "envelopes": entries}
        return Package(d, manifest, orjson.dumps(manifest))

    def _readdress(
        self, bid: PlannedBid, src_dir: Path, out: Path, entries: list[dict[str, Any]], opening: Sequence[Certificate]
    ) -> None:
        keys = orjson.loads((src_dir / "keys.json").read_bytes())
        who = self.bidder(bid.slot)
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        new = []
        for e in entries:
            ck, iv, size = keys[e["name"]]
            head = envelope_header(opening, content_key=bytes.fromhex(ck), iv=bytes.fromhex(iv), plaintext_size=size)
            src = src_dir / f"{e['name']}.env"
            ct_len = (size // 16 + 1) * 16  # SM4-CBC with PKCS#7 padding
            dst = tmp / f"{e['name']}.env"
            with open(src, "rb") as fi, open(dst, "wb") as fo:
                fi.seek(src.stat().st_size - ct_len)
                fo.write(head)
                shutil.copyfileobj(fi, fo, 1 << 20)
            digest = sm3_file(dst)
            sig = sign_digest(digest, who.key, who.certificate)
            new.append(
                {**e, "sm3": digest.hex(), "size": dst.stat().st_size, "signature": base64.b64encode(sig).decode()}
            )
        (tmp / "entries.json").write_bytes(orjson.dumps(new))
        tmp.rename(out)


# bumped when the cache layout changes (v2: content keys kept for re-addressing)
_CACHE_VERSION = "ok v2\n"
