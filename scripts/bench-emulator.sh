#!/usr/bin/env bash
# Benchmark: one patient-service process emulating a large ward.
# Reports CPU share (cores) over a measured window and peak RSS.
#   scripts/bench-emulator.sh [PATIENTS=10000] [INTERVAL=1] [SECONDS=60]
# With OTEL_EXPORTER_OTLP_ENDPOINT set, the emulator traces (see README "Traces").
set -euo pipefail
cd "$(dirname "$0")/.."
PATIENTS=${1:-10000}
INTERVAL=${2:-1}
WINDOW=${3:-60}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}
# BENCH_PROFILE=debug measures the debug build (comparisons in one sitting
# when a release build is not at hand); OTEL_* variables pass through.
PROFILE=${BENCH_PROFILE:-release}
# BENCH_NO_BUILD=1: measure the binaries as they are (scripts/bench-tracing.sh builds once).
if [[ $PROFILE == release && -z ${BENCH_NO_BUILD:-} ]]; then
  cargo build --release --locked -p patient-service -p testkit --bin patient-service --bin mock-broker >&2
fi
BIN=$CARGO_TARGET_DIR/$PROFILE

# The broker runs in its own process so its CPU is not counted; it serves
# until its stdin closes, i.e. until this script's FIFO writer goes away.
WORK=$(mktemp -d)
mkfifo "$WORK/stdin"
"$BIN/mock-broker" icu.vitals:6 icu.patients:3 <"$WORK/stdin" >"$WORK/broker.out" 2>/dev/null &
BROKER_PID=$!
exec 3>"$WORK/stdin"
until grep -q '^bootstrap=' "$WORK/broker.out"; do sleep 0.1; done
BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$WORK/broker.out" | head -1)
# One log per run (kept after it, named on stderr): two runs at once must not
# read each other's address.
LOG=$(mktemp /tmp/bench-emulator.XXXXXX.log)
echo "emulator log: $LOG" >&2
"$BIN/patient-service" --kafka-bootstrap-servers "$BOOTSTRAP" --patients "$PATIENTS" \
  --metrics-interval "$INTERVAL" --port 0 >"$LOG" 2>&1 &
PID=$!
# The emulator gets 5 s to stop (it flushes its queue to the broker), then
# SIGKILL: one left running after its run would burn CPU beside the next.
stop() {
  kill "$PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PID" 2>/dev/null || true
  exec 3>&-
  kill "$BROKER_PID" 2>/dev/null || true
  rm -rf "$WORK" || true
}
trap stop EXIT

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
sleep 10 # warm-up: admissions, first rounds, connections
t0=$(ticks); s0=$(date +%s.%N)
sleep "$WINDOW"
t1=$(ticks); s1=$(date +%s.%N)
cpu=$(echo "($t1 - $t0) / $HZ / ($s1 - $s0)" | bc -l)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
port=$(grep -ao '"address":"[^"]*"' "$LOG" | head -1 | sed 's/.*:\([0-9]*\)"/\1/')
delivered=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^icu_emulator_messages_delivered_total.*icu.vitals/ {s+=$2} END {print s+0}')
dropped=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^icu_emulator_messages_dropped_total/ {s+=$2} END {print s+0}')
printf 'patients=%s interval=%ss window=%ss cpu_cores=%.3f peak_rss_mib=%.1f delivered=%s dropped=%s\n' \
  "$PATIENTS" "$INTERVAL" "$WINDOW" "$cpu" "$(echo "$hwm / 1024" | bc -l)" "$delivered" "$dropped"
