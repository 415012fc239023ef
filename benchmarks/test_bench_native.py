"""Cost of crossing into the native module: the floor under every per-call figure.

Run: python -m pytest benchmarks/test_bench_native.py --benchmark-enable
The anchor is a pure-Python call measured in the same run.
"""

from __future__ import annotations

from typing import Any

from bidkernel import _native


def _py_noop() -> str:
    return "0.1.0"


def test_native_call_overhead(benchmark: Any) -> None:
    benchmark.group = "call overhead"
    assert benchmark(_native.version) == _native.version()


def test_python_call_anchor(benchmark: Any) -> None:
    benchmark.group = "call overhead"
    assert benchmark(_py_noop) == "0.1.0"
