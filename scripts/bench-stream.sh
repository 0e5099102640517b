#!/usr/bin/env bash
# Benchmark of the live stream (release builds, one machine):
#  1. freshness to the screen: `icu demo` with PATIENTS_FRESH (2,000) patients at
#     1 s, CLIENTS_FRESH (50) stream clients; the time from a reading's
#     measured_at to its arrival at a client, p50/p99 (the whole pipeline:
#     emulator, broker, data-service, PostgreSQL, announcement, stream);
#  2. fan-out: a second monitor-service process (release binary) on the same
#     database while `icu demo` runs PATIENTS_FANOUT (200) patients at 1 s,
#     CLIENTS_FANOUT (1,000) stream clients on it; its CPU (from
#     /proc/PID/stat) and peak RSS.
#   scripts/with-postgres.sh scripts/bench-stream.sh [SECONDS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_MEASURED=${1:-30}
: "${DATABASE_URL:?run under scripts/with-postgres.sh}"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}
cargo build --release --locked -p icu -p monitor-service --bin icu --bin monitor-service --example stream_clients >&2
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ward() { # PATIENTS DATABASE → starts icu demo, sets API
  local api; api=$(port)
  DATABASE_URL=$2 METRICS_INTERVAL=1 LOG_FORMAT=json "$BIN/icu" demo --patients "$1" --api-port "$api" \
    --patient-port "$(port)" --data-port "$(port)" >"$WORK/demo-$1.log" 2>&1 &
  DEMO=$!
  PIDS+=("$DEMO")
  API=http://127.0.0.1:$api
  until [[ $(curl -sf "$API/api/v1/patients" | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["patients"] if p["latest"]))' 2>/dev/null) == "$1" ]]; do sleep 1; done
}
database() { psql -q "$DATABASE_URL" -c "CREATE DATABASE $1" >/dev/null; echo "${DATABASE_URL%/*}/$1"; }

echo "load before: $(uptime)"
ward "${PATIENTS_FRESH:-2000}" "$(database bench_fresh)"
sleep 5
echo "freshness, ${PATIENTS_FRESH:-2000} patients at 1 s, ${CLIENTS_FRESH:-50} clients: $("$BIN/examples/stream_clients" "$API/api/v1/stream" "${CLIENTS_FRESH:-50}" "$SECONDS_MEASURED")"
echo "load: $(uptime)"
kill -INT "$DEMO"; wait "$DEMO" || true

DB=$(database bench_fanout)
ward "${PATIENTS_FANOUT:-200}" "$DB"
SPORT=$(port)
DATABASE_URL=$DB AUTH_MODE=none LOG_FORMAT=json "$BIN/monitor-service" --host 127.0.0.1 --port "$SPORT" >"$WORK/monitor.log" 2>&1 &
MONITOR=$!
PIDS+=("$MONITOR")
until curl -sf "http://127.0.0.1:$SPORT/readyz" >/dev/null; do sleep 0.2; done
ticks() { awk '{print $14 + $15}' "/proc/$MONITOR/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$MONITOR/status"; }
echo "fan-out: monitor-service idle RSS $(( $(rss) / 1024 )) MiB"
"$BIN/examples/stream_clients" "http://127.0.0.1:$SPORT/api/v1/stream" "${CLIENTS_FANOUT:-1000}" "$SECONDS_MEASURED" 5 >"$WORK/fanout.out" &
CLIENTS=$!
sleep 5 # connecting and warming up
t0=$(ticks); s0=$(date +%s.%N); peak=0
while kill -0 "$CLIENTS" 2>/dev/null; do r=$(rss); (( r > peak )) && peak=$r; sleep 1; done
t1=$(ticks); s1=$(date +%s.%N)
HZ=$(getconf CLK_TCK)
echo "fan-out, ${PATIENTS_FANOUT:-200} patients at 1 s, ${CLIENTS_FANOUT:-1000} clients: $(cat "$WORK/fanout.out")"
python3 -c "print(f'fan-out: monitor-service CPU {($t1-$t0)/$HZ/($s1-$s0):.2f} cores, peak RSS {$peak/1024:.0f} MiB')"
echo "stream metrics: $(curl -s "http://127.0.0.1:$SPORT/metrics" | grep -E '^icu_stream_(resyncs_total|refused_total|queries_total)' | tr '\n' ' ')"
echo "load after: $(uptime)"
