#!/usr/bin/env bash
# OpenTelemetry end to end: a real OTLP receiver (tests/otel/receiver.py,
# PyPI opentelemetry-proto + grpcio) on 127.0.0.1, the three service binaries
# against librdkafka's mock broker and a fresh database per round, and
# tests/otel/check.py following one reading from the emulator's PRODUCER
# span to the API response that returned it. Rounds:
#   grpc          100 % sampling: the reading's whole trace, the request span, logs
#   http/protobuf 100 % sampling: the same over the other protocol
#   always_off    the ward works, every message still carries a traceparent, nothing is exported
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
pip_install "opentelemetry-proto==1.45.2" "grpcio==1.85.3" "protobuf==7.36.2"
PY=$VENV/bin/python
BIN=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}/debug
for b in patient-service data-service monitor-service mock-broker; do
  [[ -x $BIN/$b ]] || { echo "20-otel: $BIN/$b missing (cargo build --workspace --all-targets)" >&2; exit 1; }
done
: "${DATABASE_URL:?20-otel needs the PostgreSQL of scripts/with-postgres.sh}"
: "${PG_BIN:?}" "${PG_PORT:?}"

WORK=$(mktemp -d /tmp/icu-otel.XXXXXX)
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; exec 3>&- 2>/dev/null; [[ -n ${OTEL_KEEP:-} ]] || rm -rf "$WORK"' EXIT

# round NAME PROTOCOL SAMPLER: receiver, broker, database, three services; then the check.
# Each round has its own broker and database: no reading of another round
# (whose spans went to another receiver) can show up in its API.
round() {
  local name=$1 protocol=$2 sampler=$3 dir="$WORK/$1"
  mkdir -p "$dir"
  mkfifo "$dir/broker.stdin"
  # The broker serves until its stdin closes: fd 3 is its only writer (no
  # child inherits it), closed at the end of the round.
  "$BIN/mock-broker" icu.vitals:3 icu.patients:1 <"$dir/broker.stdin" >"$dir/broker.out" 2>"$dir/broker.err" &
  local broker=$!
  exec 3>"$dir/broker.stdin"
  for _ in $(seq 100); do grep -q '^bootstrap=' "$dir/broker.out" && break; sleep 0.1; done
  local BOOTSTRAP
  BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$dir/broker.out" | head -1)
  [[ -n $BOOTSTRAP ]] || { echo "20-otel: the mock broker did not start" >&2; cat "$dir/broker.err" >&2; return 1; }
  local grpc_port http_port api_port db endpoint
  grpc_port=$(free_port); http_port=$(free_port); api_port=$(free_port)
  "$PY" tests/otel/receiver.py --grpc-port "$grpc_port" --http-port "$http_port" --out "$dir/spans.jsonl" \
    >"$dir/receiver.out" 2>"$dir/receiver.err" 3>&- &
  local receiver=$!
  for _ in $(seq 100); do grep -q ready "$dir/receiver.out" && break; sleep 0.1; done
  grep -q ready "$dir/receiver.out" || { echo "20-otel: receiver did not start" >&2; cat "$dir/receiver.err" >&2; return 1; }
  db="otel_${name//[^a-z0-9]/_}"
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$db"
  local url="${DATABASE_URL%/*}/$db"
  if [[ $protocol == grpc ]]; then endpoint="http://127.0.0.1:$grpc_port"; else endpoint="http://127.0.0.1:$http_port"; fi
  (
    export OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint OTEL_EXPORTER_OTLP_PROTOCOL=$protocol OTEL_TRACES_SAMPLER=$sampler
    export OTEL_BSP_SCHEDULE_DELAY=200 KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP HOST=127.0.0.1 RUST_LOG=info
    OTEL_SERVICE_NAME=data-service DATABASE_URL=$url KAFKA_GROUP_ID="otel-$name" PORT=0 \
      exec "$BIN/data-service" >"$dir/data-service.log" 2>&1
  ) 3>&- &
  PIDS+=($!)
  (
    export OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint OTEL_EXPORTER_OTLP_PROTOCOL=$protocol OTEL_TRACES_SAMPLER=$sampler
    # telemetry::http at debug: a refused request logs a line inside its span.
    export OTEL_BSP_SCHEDULE_DELAY=200 HOST=127.0.0.1 RUST_LOG=info,telemetry::http=debug
    # AUTH_MODE=none: access control is the oidc stages' subject, not this one's.
    OTEL_SERVICE_NAME=monitor-service DATABASE_URL=$url PORT=$api_port AUTH_MODE=none \
      exec "$BIN/monitor-service" >"$dir/monitor-service.log" 2>&1
  ) 3>&- &
  PIDS+=($!)
  (
    export OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint OTEL_EXPORTER_OTLP_PROTOCOL=$protocol OTEL_TRACES_SAMPLER=$sampler
    export OTEL_BSP_SCHEDULE_DELAY=200 KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP HOST=127.0.0.1 RUST_LOG=info
    OTEL_SERVICE_NAME=patient-service PATIENTS=3 METRICS_INTERVAL=0.5 PORT=0 \
      exec "$BIN/patient-service" >"$dir/patient-service.log" 2>&1
  ) 3>&- &
  PIDS+=($!)
  local status=0
  if [[ $sampler == always_off ]]; then
    "$PY" tests/otel/check.py off --api "http://127.0.0.1:$api_port" --spans "$dir/spans.jsonl" || status=1
    stop_all   # exits flush: whatever they would export is out before the last check
    "$PY" tests/otel/check.py nothing-exported --spans "$dir/spans.jsonl" || status=1
  else
    "$PY" tests/otel/check.py traced --api "http://127.0.0.1:$api_port" --spans "$dir/spans.jsonl" \
      --logs "$dir" || status=1
    stop_all
  fi
  exec 3>&-
  wait "$broker" 2>/dev/null || true
  kill "$receiver" 2>/dev/null; wait "$receiver" 2>/dev/null || true
  if ((status)); then
    echo "20-otel: round $name failed; service logs (tail):" >&2
    tail -n 20 "$dir"/*.log "$dir/receiver.err" >&2 || true
  fi
  return $status
}

failed=0
round grpc grpc always_on || failed=1
round http http/protobuf always_on || failed=1
round off http/protobuf always_off || failed=1
exit $failed
