#!/usr/bin/env python3
"""Turns the output of run_anchor.sh into the Markdown table of docs/performance.md (section "SIMD kernels (issue 4)").

    benchmarks/simd/run_anchor.sh 3 0.5 | tee run.txt ; python3 benchmarks/simd/table.py run.txt

For each operation and implementation it takes, across rounds, the median of the per-round
"median" figures and the median of the per-round "best" figures (fastest single 1 MiB call).
Ratios compare bidkernel's fast path to libgcrypt (ctypes anchor, same metrics, same session).
"""

import re
import statistics
import sys
from collections import defaultdict

LINE = re.compile(r"^(?P<op>.+?)\s{2,}(?P<impl>\S+)\s+MB/s median=\s*(?P<med>[\d.]+) best=\s*(?P<best>[\d.]+)")

SM4 = ["avx512-gfni", "aesni-avx2", "aesni-ssse3"]
SM3 = ["asm-bmi2-avx512vl", "asm-bmi2-avx", "x86-64-bmi2"]
MB = ["avx512-x16", "avx2-x8"]
# (operation in the log, label, backends fastest first, the libgcrypt row it is compared with).
# The "fast path" is the first backend the log has (the one this CPU dispatches to), the
# "fallback" the next one it has (what a CPU without the fast path's features would take).
ROWS = [
    ("SM4-CTR 1MiB", "SM4-CTR", SM4, "SM4-CTR 1MiB"),
    ("SM4-GCM seal 1MiB", "SM4-GCM seal", SM4, "SM4-GCM seal 1MiB"),
    ("SM4-CBC dec 1MiB", "SM4-CBC decrypt", SM4, "SM4-CBC dec 1MiB"),
    ("SM4-CBC enc 1MiB", "SM4-CBC encrypt", SM4, "SM4-CBC enc 1MiB"),
    ("SM4-ECB enc 1MiB", "SM4-ECB", SM4, "SM4-ECB enc 1MiB"),
    ("SM3 1MiB", "SM3 single stream", SM3, "SM3 1MiB"),
    ("SM3 multi-buffer 16x64KiB", "SM3 multi-buffer 16 x 64 KiB (aggregate)", MB, "SM3 1MiB"),
    ("SM3 multi-buffer 1024x1KiB", "SM3 multi-buffer 1024 x 1 KiB (aggregate)", MB, "SM3 1MiB"),
]
PORTABLE = {"SM3 multi-buffer 16x64KiB": "serial", "SM3 multi-buffer 1024x1KiB": "serial"}


def main():
    data = defaultdict(lambda: {"med": [], "best": []})
    for line in open(sys.argv[1]):
        m = LINE.match(line.strip())
        if m:
            key = (m["op"].strip(), m["impl"])
            data[key]["med"].append(float(m["med"]))
            data[key]["best"].append(float(m["best"]))

    def fig(op, impl, metric):
        v = data.get((op, impl), {}).get(metric)
        return statistics.median(v) if v else None

    def fmt(x):
        return "n/a" if x is None else f"{x:,.0f}"

    print(
        "| operation (1 MiB, one core) | bidkernel fast path | best / median MB/s | fallback path best "
        "| portable (RustCrypto) | libgcrypt 1.10 best / median | ratio best | ratio median |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for op, label, prefs, anchor in ROWS:
        present = [b for b in prefs if (op, b) in data] or [prefs[0]]
        fast = present[0]
        fallback = present[1] if len(present) > 1 else None
        fb, fm = fig(op, fast, "best"), fig(op, fast, "med")
        ab, am = fig(anchor, "libgcrypt", "best"), fig(anchor, "libgcrypt", "med")
        port = PORTABLE.get(op, "portable")
        pb = fig(op, port, "best")
        aes = fig(op, fallback, "best") if fallback else None
        rb = f"{fb / ab:.2f}x" if fb and ab else "n/a"
        rm = f"{fm / am:.2f}x" if fm and am else "n/a"
        cells = [
            label,
            fast,
            f"{fmt(fb)} / {fmt(fm)}",
            f"{fmt(aes)} ({fallback or 'none'})",
            fmt(pb),
            f"{fmt(ab)} / {fmt(am)}",
            rb,
            rm,
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
