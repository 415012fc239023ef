#!/usr/bin/env bash
# Builds and runs the SM4/SM3 comparison on one core: bidkernel's SIMD kernels and portable
# paths (native/examples/bench_symm.rs) beside libgcrypt, measured in the same session.
#
#   benchmarks/simd/run_anchor.sh [ROUNDS] [SECONDS_PER_REP]
#
# Runs ROUNDS (default 3) alternating rounds of: bench_symm, the libgcrypt ctypes anchor
# (gcrypt_anchor.py, same metrics) and the shared C anchor (../shared/tools/anchors/gcry_bench.c,
# built under /tmp, never committed). Needs libgcrypt20-dev (apt-get install -y libgcrypt20-dev).
# CPU 0 is used for every measurement (taskset -c 0); override with CPU=<n>.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-3}
SECS=${2:-0.5}
CPU=${CPU:-0}
ANCHORS=${ANCHORS:-$ROOT/../shared/tools/anchors}
BUILD=${TMPDIR:-/tmp}/bidkernel-simd-anchor
mkdir -p "$BUILD"

gcc -O2 -o "$BUILD/gcry_bench" "$ANCHORS/gcry_bench.c" -lgcrypt
(cd "$ROOT/native" && cargo build --release --example bench_symm)
BENCH="$ROOT/native/target/release/examples/bench_symm"

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|bmi2|avx512f|avx512bw|avx512vl|gfni|vaes|vpclmulqdq|aes|pclmulqdq|sha_ni' | tr '\n' ' ')"
echo "date: $(date -u +%FT%TZ)  rounds: $ROUNDS  seconds/rep: $SECS  cpu: $CPU"
for r in $(seq 1 "$ROUNDS"); do
    echo "=== round $r: bidkernel"
    taskset -c "$CPU" "$BENCH" "$SECS"
    echo "=== round $r: libgcrypt (ctypes, same metrics)"
    taskset -c "$CPU" python3 "$ROOT/benchmarks/simd/gcrypt_anchor.py" "$SECS"
    echo "=== round $r: libgcrypt (shared gcry_bench.c)"
    taskset -c "$CPU" "$BUILD/gcry_bench"
done
