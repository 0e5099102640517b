#!/usr/bin/env bash
# Benchmark of the ward API: 10 million readings of 1,000 patients, wrk
# against the two hot routes, and the plans of their queries.
#   scripts/with-postgres.sh scripts/bench-api.sh [PATIENTS=1000] [PER_PATIENT=10000] [SECONDS=20] ["CONNECTIONS…"="8 32"]
# DB_POOL_SIZE (default 4) sets the service's pool. With DATABASE_URL already
# holding the data (a second run), the load is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PATIENTS=${1:-1000}
PER_PATIENT=${2:-10000}
DURATION=${3:-20}
CONNECTIONS=${4:-8 32}
: "${DATABASE_URL:?run under scripts/with-postgres.sh}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}
cargo build --release --locked -p monitor-service --bin monitor-service --example bench_load >&2
BIN=$CARGO_TARGET_DIR/release

UUID=$("$BIN/examples/bench_load" "$PATIENTS" "$PER_PATIENT" | tail -1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DB_POOL_SIZE=${DB_POOL_SIZE:-4} "$BIN/monitor-service" --host 127.0.0.1 --port "$PORT" >/tmp/bench-api.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.2; done

for path in "/api/v1/patients/$UUID/metrics?limit=100" "/api/v1/patients"; do
  for c in $CONNECTIONS; do
    echo "== GET $path (wrk -t2 -c$c -d${DURATION}s --latency, pool ${DB_POOL_SIZE:-4})"
    wrk -t2 -c"$c" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors|Latency  "
  done
done
