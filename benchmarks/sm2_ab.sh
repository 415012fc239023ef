#!/usr/bin/env bash
# SM2 A/B on a shared, noisy machine: several builds of native/examples/bench_sm2 (e.g. the commit
# before a change and after it) and GmSSL's harness, alternated round by round on one CPU; prints,
# per operation, the best and the median of each side's per-round medians, and each build's ratio
# to GmSSL (best/best and median/median).
#
#   GMSSL=/path/to/GmSSL benchmarks/sm2_ab.sh ROUNDS SECONDS NAME=PATH [NAME=PATH ...]
#
# GmSSL is built outside the repository (see benchmarks/sm2_anchor.sh); its harness is
# ../shared/tools/anchors/gmssl_bench.c, compiled under $TMPDIR by sm2_anchor.sh.
set -euo pipefail
R=$1 S=$2; shift 2
: "${GMSSL:?set GMSSL to a built guanzhi/GmSSL checkout}"
CPU=${CPU:-0}
HARNESS=${TMPDIR:-/tmp}/bidkernel-sm2-anchor/gmssl_bench
[[ -x $HARNESS ]] || { echo "run benchmarks/sm2_anchor.sh once first (it builds $HARNESS)" >&2; exit 2; }
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "date: $(date -u +%FT%TZ)  rounds: $R x ${S}s  cpu: $CPU  load: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq 1 "$R"); do
    for nb in "$@"; do
        taskset -c "$CPU" "${nb#*=}" "$S" |
            sed -n 's/^bidkernel SM2 \(sign 32B (key, Z cached)\|verify 32B (Z cached)\|encrypt 32B (one-shot)\|decrypt 32B\) *ops\/s median=\([0-9.]*\).*/\1|\2/p' |
            sed "s/^/${nb%%=*}|/" >>"$OUT"
    done
    LD_LIBRARY_PATH="$GMSSL/build/bin" taskset -c "$CPU" "$HARNESS" 2>/dev/null |
        sed -n 's/^SM2 \(sign 32B (ctx, Z cached)\|verify 32B (ctx, Z cached)\|encrypt 32B (one-shot)\|decrypt 32B\) *ops\/s median=\([0-9.]*\).*/\1|\2/p' |
        sed 's/sign 32B (ctx, Z cached)/sign 32B (key, Z cached)/; s/verify 32B (ctx, Z cached)/verify 32B (Z cached)/; s/^/gmssl|/' >>"$OUT"
done
python3 - "$OUT" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    b, op, v = line.strip().split("|")
    d[(op, b)].append(float(v))
ops = sorted({k[0] for k in d}); sides = sorted({k[1] for k in d})
print("| operation | " + " | ".join(f"{b} best / median (ops/s)" for b in sides) + " |")
print("|---" * (len(sides) + 1) + "|")
for op in ops:
    print(f"| {op} | " + " | ".join(f"{max(d[(op, b)]):,.0f} / {statistics.median(d[(op, b)]):,.0f}" for b in sides) + " |")
for b in sides:
    if b == "gmssl":
        continue
    best = " ".join(f"{op.split()[0]} {max(d[(op, b)]) / max(d[(op, 'gmssl')]):.2f}x" for op in ops)
    med = " ".join(f"{op.split()[0]} {statistics.median(d[(op, b)]) / statistics.median(d[(op, 'gmssl')]):.2f}x" for op in ops)
    print(f"{b} vs GmSSL, best/best: {best} | median/median: {med}")
PY
