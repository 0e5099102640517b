#!/usr/bin/env bash
# Benchmark of the ward API: 10 million readings of 1,000 patients, wrk
# against the hot routes with the page cache on and off, one patient and the
# whole ward at random while readings keep arriving, and the query plans.
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
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

UUID=$("$BIN/examples/bench_load" "$PATIENTS" "$PER_PATIENT" | tail -1)
psql "$DATABASE_URL" -Atc "SELECT uuid FROM patients" >"$WORK/uuids"
# Each request asks for a random patient of the ward.
cat >"$WORK/ward.lua" <<LUA
local uuids = {}
for line in io.lines("$WORK/uuids") do uuids[#uuids + 1] = line end
request = function()
  return wrk.format("GET", "/api/v1/patients/" .. uuids[math.random(#uuids)] .. "/metrics?limit=100")
end
LUA

serve() { # PAGE_CACHE_MB
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # Access control off: this measures the read path, not token checks.
  AUTH_MODE=none PAGE_CACHE_MB=$1 DB_POOL_SIZE=${DB_POOL_SIZE:-4} "$BIN/monitor-service" --host 127.0.0.1 --port "$PORT" \
    >"$WORK/service-$1.log" 2>&1 &
  SERVICE=$!
  PIDS+=("$SERVICE")
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.2; done
  sleep 1 # the cache caches once its listener is connected
}

# A live ward: 40 patients' new readings every 200 ms (a 5 s interval for
# 1,000 patients), in statements like the data-service's batches.
ward_writes() {
  local k=0
  while :; do
    psql "$DATABASE_URL" -qc "INSERT INTO vital_signs (patient_id, measured_at, pulse, resp_rate, bp_systolic,
        bp_diastolic, spo2, temperature, news2, news2_band, source_topic, source_partition, source_offset)
      SELECT uuid, now(), 80, 16, 120, 80, 97, 36.9, 0, 'low', 'bench', 0, $k FROM patients
      ORDER BY uuid OFFSET $(((k * 40) % PATIENTS)) LIMIT 40" >/dev/null
    k=$((k + 1))
    sleep 0.2
  done
}

run() { # LABEL CONNECTIONS wrk-args…
  local label=$1 c=$2
  shift 2
  echo "== $label (wrk -t2 -c$c -d${DURATION}s --latency, pool ${DB_POOL_SIZE:-4})"
  wrk -t2 -c"$c" -d"${DURATION}s" --latency "$@" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
}

for cache in 64 0; do
  serve "$cache"
  for c in $CONNECTIONS; do
    run "cache ${cache} MiB: GET /api/v1/patients/{one}/metrics?limit=100" "$c" \
      "http://127.0.0.1:$PORT/api/v1/patients/$UUID/metrics?limit=100"
  done
  ward_writes &
  WRITER=$!
  PIDS+=("$WRITER")
  for c in $CONNECTIONS; do
    run "cache ${cache} MiB, ward writing: GET /api/v1/patients/{random of $PATIENTS}/metrics?limit=100" "$c" \
      -s "$WORK/ward.lua" "http://127.0.0.1:$PORT"
  done
  kill "$WRITER"
  curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^icu_page_cache_(lookups|announcements)' || true
  if [[ $cache == 0 ]]; then
    for c in $CONNECTIONS; do
      run "GET /api/v1/patients ($PATIENTS patients)" "$c" "http://127.0.0.1:$PORT/api/v1/patients"
    done
  fi
  kill "$SERVICE"
done
