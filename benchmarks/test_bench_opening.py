"""Opening benchmark smoke (CI runs it with --benchmark-disable: the body once, tiny sizes).

The full measurement is the script: python benchmarks/opening_bench.py --bids 1000 --size 10MiB --dir DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: reach opening_bench.py

from opening_bench import run


def test_opening_small(benchmark: Any, tmp_path: Path) -> None:
    res = benchmark.pedantic(lambda: run(8, 64 << 10, tmp_path, quiet=True), rounds=1, iterations=1)
    assert (res.opened, res.failed) == (8, 0)
    assert res.cipher_bytes > 8 * (64 << 10)
    assert 0 < res.native_s <= res.total_s and 0 <= res.summary_s <= res.total_s
