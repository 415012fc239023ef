#!/usr/bin/env bash
# Distributed load generation on loopback: a local `bidkernel serve`, one Locust master and two workers
# driving it with the `bidkernel loadtest` bid generator, then the offline verification of every receipt.
#   pip install -e '.[load]'   (Locust)
#   benchmarks/load/run_distributed.sh [PROFILE] [USERS]        (default: smoke 200)
# Everything listens on 127.0.0.1 only; the run stops by itself (Locust --run-time from the schedule).
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILE=${1:-smoke}
USERS=${2:-200}
WORK=$(mktemp -d /tmp/bidkernel-locust-XXXXXX)
CACHE=${LOADTEST_CACHE:-$WORK/cache}
PY=${PYTHON:-python}
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

$PY -c 'from bidkernel.cli.main import main; main()' serve --data "$WORK/data" --port "$PORT" \
    --max-in-flight 256 >"$WORK/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 300); do
    curl -fs "$URL/healthz" >/dev/null 2>&1 && break || sleep 0.1
done
echo "server pid $server on $URL, data $WORK/data"

$PY benchmarks/load/distributed.py setup --profile "$PROFILE" --url "$URL" --pki "$WORK/data/pki" \
    --cache "$CACHE" --run "$WORK/run.json" --start-in 15
RUNTIME=$($PY -c "import orjson,time; d=orjson.loads(open('$WORK/run.json','rb').read()); \
print(int(d['t0_unix'] - time.time() + max(s['sched_s'] for s in d['submissions']) + 30))")
echo "locust: 1 master + 2 workers, $USERS users, run time ${RUNTIME}s"

export LOADTEST_RUN=$WORK/run.json LOADTEST_WORKERS=2
locust -f benchmarks/load/locustfile.py --master --headless --master-bind-host 127.0.0.1 --expect-workers 2 \
    -u "$USERS" -r "$USERS" -t "${RUNTIME}s" --stop-timeout 60 --csv "$WORK/locust" --only-summary \
    >"$WORK/master.log" 2>&1 &
master=$!
pids+=("$master")
sleep 2
for i in 0 1; do
    locust -f benchmarks/load/locustfile.py --worker --master-host 127.0.0.1 >"$WORK/worker-$i.log" 2>&1 &
    pids+=("$!")
done
wait "$master" || true
echo "--- locust master summary ($WORK/master.log)"
grep -E "Type|bid|probe|Aggregated|workers|Worker" "$WORK/master.log" | head -20 || true
echo "--- verification"
$PY benchmarks/load/distributed.py verify --run "$WORK/run.json"
