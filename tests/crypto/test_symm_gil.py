"""The long-running SM3/SM4 calls release the GIL: another Python thread keeps running meanwhile."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bidkernel.crypto import sm3, sm4

DATA = os.urandom(24 * 1024 * 1024)
KEY = bytes(range(16))


def _main_thread_progress_during(work: Callable[[], Any], min_seconds: float = 0.0) -> tuple[int, float, int]:
    """Runs `work` in a thread (repeated until `min_seconds` have passed); counts how often the main
    thread gets to run meanwhile. Returns (ticks, elapsed, repeats)."""
    done = threading.Event()
    repeats = 0

    def run() -> None:
        nonlocal repeats
        try:
            t0 = time.perf_counter()
            while True:
                work()
                repeats += 1
                if time.perf_counter() - t0 >= min_seconds:
                    break
        finally:
            done.set()

    t = threading.Thread(target=run)
    ticks = 0
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0)  # a pure-Python step that needs the GIL
    t.join()
    return ticks, time.perf_counter() - start, repeats


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    d = tmp_path_factory.mktemp("gil")
    f = d / "data"
    f.write_bytes(DATA)
    enc = d / "enc"
    sm4.encrypt_file("ctr", KEY, bytes(16), f, enc)
    return f, enc, sm4.cbc_encrypt(KEY, bytes(16), DATA)


def test_control_a_call_holding_the_gil_is_detected() -> None:
    # bytes.translate is one C call that holds the GIL: the same measurement must show far less
    # main-thread progress than a native call that releases it, measured side by side (ticks at the
    # edges of a held call grow with machine load, so the comparison is relative, not absolute).
    table = bytes(range(255, -1, -1))
    big = DATA * 4
    held, held_elapsed, _ = _main_thread_progress_during(lambda: big.translate(table))
    released, released_elapsed, _ = _main_thread_progress_during(lambda: sm3.sm3(DATA))
    assert held_elapsed > 0.02 and released_elapsed > 0.02
    held_rate, released_rate = held / held_elapsed, released / released_elapsed
    assert held_rate * 5 < released_rate, (held, held_elapsed, released, released_elapsed)


@pytest.mark.parametrize(
    "name",
    ["sm3", "sm3_many", "hmac", "ctr", "gcm", "cbc_decrypt", "sm3_file", "decrypt_file", "decrypt_batch"],
)
def test_long_calls_release_the_gil(name: str, files: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    f, enc, cbc = files
    work: dict[str, Callable[[], Any]] = {
        "sm3": lambda: sm3.sm3(DATA),
        "sm3_many": lambda: sm3.sm3_many([DATA[i::4] for i in range(4)]),
        "hmac": lambda: sm3.hmac_sm3(KEY, DATA),
        "ctr": lambda: sm4.ctr_encrypt(KEY, bytes(16), DATA),
        "gcm": lambda: sm4.gcm_encrypt(KEY, bytes(12), DATA),
        "cbc_decrypt": lambda: sm4.cbc_decrypt(KEY, bytes(16), cbc),
        "sm3_file": lambda: sm3.sm3_file(f),
        "decrypt_file": lambda: sm4.decrypt_file("ctr", KEY, bytes(16), enc, tmp_path / "dec"),
        "decrypt_batch": lambda: sm4.decrypt_batch(
            [sm4.DecryptItem(key=KEY, mode="ctr", iv=bytes(16), path=enc) for _ in range(2)]
        ),
    }
    # The SIMD kernels finish 24 MiB in ~20 ms, so the call is repeated for >= 0.1 s. With the GIL held
    # for each call the main thread could run only at the edges of each call: a handful of ticks per
    # repeat (the control test sees ~2 per call). Released, it runs ~1,000+ times in that span.
    ticks, elapsed, repeats = _main_thread_progress_during(work[name], min_seconds=0.1)
    assert elapsed >= 0.1 and repeats >= 1
    assert ticks > max(50, 10 * repeats), (
        f"{name}: main thread ran only {ticks} times in {elapsed:.2f}s ({repeats} calls)"
    )
