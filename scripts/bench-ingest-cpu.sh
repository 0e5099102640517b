#!/usr/bin/env bash
# Benchmark: data-service's own CPU per stored reading, the emulator feeding it
# live (mock broker, 10,000 patients at 1 s by default), so two builds of the
# same code can be compared in one sitting (e.g. two release profiles).
#   scripts/with-postgres.sh scripts/bench-ingest-cpu.sh BIN_DIR [PATIENTS=10000] [WINDOW=40]
# BIN_DIR holds patient-service, data-service and mock-broker. PostgreSQL's
# CPU is not counted: this is the Rust side of ingest (consume, decode,
# validate, score, encode COPY rows), which opt-level choices change.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?run through scripts/with-postgres.sh}"
BIN=$1 PATIENTS=${2:-10000} WINDOW=${3:-40}
WORK=$(mktemp -d)
mkfifo "$WORK/stdin"
"$BIN/mock-broker" icu.vitals:6 icu.patients:3 <"$WORK/stdin" >"$WORK/broker.out" 2>/dev/null &
BROKER_PID=$!
exec 3>"$WORK/stdin"
pids=()
# data-service drains on SIGTERM; should PostgreSQL go first, it would wait, so it gets SIGKILL after 5 s.
stop() {
  kill "${pids[@]}" 2>/dev/null
  for _ in $(seq 50); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
  kill -9 "${pids[@]}" 2>/dev/null
  exec 3>&-; kill $BROKER_PID 2>/dev/null; rm -rf "$WORK" || true
}
trap stop EXIT
until grep -q '^bootstrap=' "$WORK/broker.out"; do sleep 0.1; done
BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$WORK/broker.out" | head -1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP PORT=$PORT "$BIN/data-service" >"$WORK/data.log" 2>&1 &
DATA=$!; pids+=("$DATA")
"$BIN/patient-service" --kafka-bootstrap-servers "$BOOTSTRAP" --patients "$PATIENTS" --metrics-interval 1 --port 0 \
  >"$WORK/emu.log" 2>&1 &
pids+=("$!")
stored() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^icu_ingest_stored_total/ {s+=$2} END {print s+0}'; }
ticks() { awk '{print $14 + $15}' "/proc/$DATA/stat"; }
HZ=$(getconf CLK_TCK)
sleep 10 # warm-up: migrations, group join, admissions
t0=$(ticks); n0=$(stored)
sleep "$WINDOW"
t1=$(ticks); n1=$(stored)
echo "bin=$BIN stored=$((n1 - n0)) in ${WINDOW}s cpu_s=$(echo "($t1 - $t0) / $HZ" | bc -l | head -c 6)" \
  "cpu_us_per_reading=$(echo "($t1 - $t0) / $HZ * 1000000 / ($n1 - $n0)" | bc -l | head -c 6)"
