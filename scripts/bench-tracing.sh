#!/usr/bin/env bash
# Tracing's cost (issue 10), side by side in one sitting, release builds:
# tracing off / the default (parent-based, 10 new traces a second) exporting to a
# live OTLP receiver / 100 % sampling, on
#   - patient-service CPU at PATIENTS (scripts/bench-emulator.sh, 1 s interval),
#   - data-service ingest rate (the ingest_bench example, READINGS readings;
#     BENCH_SAMPLED gives the messages the traceparents an emulator at that
#     ratio sends),
#   - monitor-service's HTTP layer (wrk against /healthz, where the request's
#     span, metrics and traceparent are all the work, and the patient list).
#   - part "together": one emulator per mode, all running at once (each with
#     its own broker), measured over the same window: what the machine's
#     load does to one it does to all, so their ratio holds where runs one
#     after another differ by ±15 % with no change at all.
# The modes alternate within each of ROUNDS rounds, so drift in the
# machine's load falls on all of them alike.
#   scripts/with-postgres.sh scripts/bench-tracing.sh [PATIENTS=10000] [READINGS=100000] [ROUNDS=2] [WINDOW=30]
# BENCH_PARTS (default "emulator ingest http"; also "together") and BENCH_MODES (default
# "off default full") narrow a sitting, e.g. more rounds of one comparison.
# (each emulator run's log: /tmp/bench-emulator.*.log, named on stderr by bench-emulator.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
PATIENTS=${1:-10000}
READINGS=${2:-100000}
ROUNDS=${3:-2}
WINDOW=${4:-30}
: "${DATABASE_URL:?run under scripts/with-postgres.sh}"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
pip_install "opentelemetry-proto==1.45.2" "grpcio==1.85.3" "protobuf==7.36.2"
# BENCH_NO_BUILD=1 measures the release binaries already built (say which commit).
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
  cargo build --release --locked -p patient-service -p data-service -p monitor-service -p testkit \
    --bin patient-service --bin mock-broker --bin monitor-service --example ingest_bench >&2
fi
export BENCH_NO_BUILD=1
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# One receiver for the whole sitting, counting what it is sent.
GRPC_PORT=$(free_port); HTTP_PORT=$(free_port)
"$VENV/bin/python" tests/otel/receiver.py --grpc-port "$GRPC_PORT" --http-port "$HTTP_PORT" \
  --out "$WORK/spans.jsonl" --count-only >"$WORK/receiver.out" 2>&1 &
PIDS+=($!)
until grep -q ready "$WORK/receiver.out"; do sleep 0.1; done

# Modes: off, default (no OTEL_TRACES_SAMPLER*), full (always_on), header
# (always_off: every message's traceparent, no span), and rR
# (parentbased_traceidratio at R, e.g. r0.01). A suffix after "+" names a
# second copy of a mode ("off off+2": an A/A check of the "together" part).
mode_env() { # MODE: the OTEL_* variables of a mode, as env arguments
  local endpoint="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$HTTP_PORT" base=${1%%+*}
  case $base in
    off) echo "OTEL_SDK_DISABLED=true" ;; # as with no endpoint: no tracer, no header
    default) echo "$endpoint" ;;
    full) echo "$endpoint OTEL_TRACES_SAMPLER=always_on" ;;
    header) echo "$endpoint OTEL_TRACES_SAMPLER=always_off" ;; # every reading's traceparent, no span
    r*) echo "$endpoint OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=${base#r}" ;;
  esac
}
sampled() { # MODE: what the ingest benchmark's messages carry (off: no header)
  local base=${1%%+*}
  case $base in
    off) ;;
    default) # the share an emulator of PATIENTS at 1 s sends at the default budget
      local rate
      rate=$(grep -oP 'DEFAULT_TRACES_PER_SECOND: f64 = \K[0-9.]+' crates/telemetry/src/otel.rs)
      echo "BENCH_SAMPLED=$(echo "$rate / $PATIENTS" | bc -l)" ;;
    full) echo BENCH_SAMPLED=1 ;;
    header) echo BENCH_SAMPLED=0 ;;
    r*) echo "BENCH_SAMPLED=${base#r}" ;;
  esac
}

http_bench() { # MODE
  local port db
  port=$(free_port)
  db="bench_http_$1_$RANDOM"
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$db"
  env $(mode_env "$1") AUTH_MODE=none DATABASE_URL="${DATABASE_URL%/*}/$db" "$BIN/monitor-service" \
    --host 127.0.0.1 --port "$port" >"$WORK/monitor-$1.log" 2>&1 &
  local pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
  for path in /healthz /api/v1/patients; do
    wrk -t1 -c8 -d2s "http://127.0.0.1:$port$path" >/dev/null # warm-up
    local rate
    rate=$(wrk -t1 -c8 -d10s "http://127.0.0.1:$port$path" | awk '/Requests\/sec/ {print $2}')
    echo "http mode=$1 path=$path requests_per_s=$rate"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "load before: $(uptime)"
PARTS=${BENCH_PARTS:-emulator ingest http}
part() { [[ " $PARTS " == *" $1 "* ]]; }
for round in $(seq "$ROUNDS"); do
  for mode in ${BENCH_MODES:-off default full}; do
    echo "== round $round, $mode: $(uptime | sed 's/.*load/load/')"
    if part emulator; then
      env $(mode_env $mode) scripts/bench-emulator.sh "$PATIENTS" 1 "$WINDOW" 2>/dev/null | sed "s/^/emulator mode=$mode /"
    fi
    if part ingest; then
      env -u BENCH_SAMPLED $(mode_env $mode) $(sampled $mode) "$BIN/examples/ingest_bench" "$READINGS" 1000 2>/dev/null \
        | grep -E '^(tracing|ingest):' | sed "s/^/ingest mode=$mode /"
    fi
    if part http; then http_bench $mode; fi
  done
  if part together; then
    echo "== round $round, together: $(uptime | sed 's/.*load/load/')"
    together=()
    for mode in ${BENCH_MODES:-off default full}; do
      env $(mode_env $mode) scripts/bench-emulator.sh "$PATIENTS" 1 "$WINDOW" 2>/dev/null \
        | sed "s/^/together mode=$mode /" >"$WORK/together-$mode.out" &
      together+=($!)
    done
    wait "${together[@]}"
    cat "$WORK"/together-*.out
  fi
done
echo "spans received by the OTLP receiver: $(cat "$WORK/spans.jsonl")"
echo "load after: $(uptime)"
