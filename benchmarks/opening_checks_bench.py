"""What the opening's new checks cost (docs/performance.md "Opening: key checks and the attested-time gate").

* per released bidder key: the signed key check value (KCV: parse the signature, one SM3, constant-time
  compare), the SM2 point proof (recompute C2 and C3) and the padding check (read the header and the
  last two blocks, one SM4 block decryption) — beside, as the anchor, one SM2 unwrap of the same key with
  the private key (what the tender-key path costs per envelope);
* per unseal of a platform-held key: the attested-time gate, from the embedded TSA key on the kernel's own
  clock and from a TSA configured over loopback HTTP — beside, as the anchor, one token from the platform's
  own TSA (``providers.stamp``, as for every receipt).

Usage: ``python benchmarks/opening_checks_bench.py [--n 200]``
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bidkernel import providers
from bidkernel.client import seal_package
from bidkernel.crypto.envelope import read_header_from_file, unwrap_content_key, unwrap_content_key_with_proof
from bidkernel.opening import gate, keycheck
from bidkernel.platform import Platform
from bidkernel.testing import serve_tsa


def _per_call(fn: Callable[[], object], n: int) -> float:
    """Median of 5 rounds of n calls, in microseconds per call."""
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(rounds)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args(argv)
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        p = Platform.open(root / "kernel")
        try:
            bidder = p.pki.ca.issue("CN=b,OU=bidder,O=b")
            (root / "s.json").write_text('{"price": 1}')
            (root / "doc.bin").write_bytes(os.urandom(1 << 20))
            m = seal_package(root / "pkg", tender_id="t-x", opening_certificates=[bidder.certificate],
                             summary=root / "s.json", files=[("doc", root / "doc.bin")], key=bidder.key,
                             cert=bidder.certificate)  # fmt: skip
            entry = next(e for e in m["envelopes"] if e["name"] == "doc")
            path = root / "pkg" / "doc.env"
            hdr = read_header_from_file(path)
            key, point = unwrap_content_key_with_proof(hdr, bidder.key, bidder.certificate)
            legacy = {k: v for k, v in entry.items() if k != "signature"}
            rows = [
                ("anchor: SM2 unwrap of the content key (private key)",
                 _per_call(lambda: unwrap_content_key(hdr, bidder.key, bidder.certificate), n)),
                ("key check value (signed KCV)", _per_call(lambda: keycheck.check_key(path, entry, key), n)),
                ("SM2 point proof", _per_call(lambda: keycheck.check_key(path, legacy, key, point), n)),
                ("padding (no KCV, no proof)", _per_call(lambda: keycheck.check_key(path, legacy, key), n)),
            ]  # fmt: skip
            label = b"bidkernel/opening-gate/bench/" + secrets.token_bytes(16)
            gate_rows = [
                ("anchor: one token from the platform's TSA (providers.stamp)",
                 _per_call(lambda: providers.stamp(p, label), n // 4)),
                ("gate: embedded TSA key on the kernel's own clock, verified",
                 _per_call(lambda: gate.attested_time(p, label), n // 4)),
            ]  # fmt: skip
            stop = serve_tsa(p)
            try:
                gate_rows.append(("gate: configured TSA over loopback HTTP, verified",
                                  _per_call(lambda: gate.attested_time(p, label), n // 4)))  # fmt: skip
            finally:
                stop()
        finally:
            p.close()
    print(f"opening checks bench: {os.cpu_count()} cores, n={n}")
    print("| per released key | µs | × anchor |\n|---|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.0f} | {us / rows[0][1]:.2f} |")
    print("\n| per unseal of a platform-held key | µs | × anchor |\n|---|---|---|")
    for name, us in gate_rows:
        print(f"| {name} | {us:.0f} | {us / gate_rows[0][1]:.2f} |")


if __name__ == "__main__":
    main()
