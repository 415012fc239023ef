#!/usr/bin/env bash
# SM2 at the Rust level beside GmSSL's x86-64 assembly, same session, one core, like with like:
# bidkernel's key object holds (1+d)^-1, Z_A and a pool of precomputed nonces, as GmSSL's reused
# SM2_SIGN_CTX does (native/examples/bench_sm2.rs explains each row).
#
#   GMSSL=/path/to/GmSSL benchmarks/sm2_anchor.sh [ROUNDS] [SECONDS_PER_REP]
#
# GMSSL is a guanzhi/GmSSL checkout built outside the repository (cmake -DCMAKE_BUILD_TYPE=Release
# -DENABLE_SM2_AMD64=ON; build/bin/libgmssl.so); its harness is ../shared/tools/anchors/gmssl_bench.c,
# compiled under /tmp. Rounds alternate bidkernel and GmSSL on CPU 0 (override with CPU=<n>).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-2}
SECS=${2:-1.0}
CPU=${CPU:-0}
: "${GMSSL:?set GMSSL to a built guanzhi/GmSSL checkout}"
ANCHORS=${ANCHORS:-$ROOT/../shared/tools/anchors}
BUILD=${TMPDIR:-/tmp}/bidkernel-sm2-anchor
mkdir -p "$BUILD"
gcc -O2 -I"$GMSSL/include" -o "$BUILD/gmssl_bench" "$ANCHORS/gmssl_bench.c" -L"$GMSSL/build/bin" -lgmssl
(cd "$ROOT/native" && cargo build --release --example bench_sm2)
echo "date: $(date -u +%FT%TZ)  rounds: $ROUNDS  cpu: $CPU  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gmssl: $(git -C "$GMSSL" rev-parse --short HEAD 2>/dev/null || echo unknown)"
for r in $(seq 1 "$ROUNDS"); do
    echo "=== round $r: bidkernel (load $(cut -d' ' -f1 /proc/loadavg))"
    taskset -c "$CPU" "$ROOT/native/target/release/examples/bench_sm2" "$SECS"
    echo "=== round $r: GmSSL (load $(cut -d' ' -f1 /proc/loadavg))"
    LD_LIBRARY_PATH="$GMSSL/build/bin" taskset -c "$CPU" "$BUILD/gmssl_bench" | grep '^SM2'
done
