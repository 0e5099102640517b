#!/usr/bin/env bash
# Alert rules and dashboards against a real Prometheus (Debian's package):
# - `promtool check rules` and `promtool test rules` (tests/prometheus/);
# - the dashboards' structure (provisioning-ready, grid, ids);
# - the three real services (debug binaries of the workspace build) run a
#   small ward against the embedded broker (`icu broker`) and a fresh
#   database on $DATABASE_URL's server, one patient in a bad condition;
#   Prometheus scrapes all of them every second and evaluates the rules;
#   every expr of every panel of every dashboard must return data, and the
#   high-NEWS2 alert must fire for the bad patient and never for a stable one.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

apt_install prometheus
RULES=charts/icu-monitor/rules/icu-monitor.rules.yaml
DASHBOARDS=charts/icu-monitor/dashboards
promtool check rules "$RULES"
promtool test rules tests/prometheus/*.test.yaml
python3 tests/prometheus/check_dashboards.py structure "$DASHBOARDS"

: "${DATABASE_URL:?the stage runs under scripts/with-postgres.sh (make test)}"
BIN=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}/debug
for b in icu patient-service data-service monitor-service; do
  [[ -x $BIN/$b ]] || { echo "missing $BIN/$b: build the workspace first (scripts/test.sh does)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/icu-prometheus.XXXXXX)
pids=()
# Stopped in reverse order, each before the next: the broker last, so the
# data-service can commit and leave the group at once.
cleanup() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
# Prints the logs of everything started when the stage fails.
trap 'status=$?; if ((status)); then for f in "$WORK"/*.log; do echo "--- $f" >&2; tail -n 30 "$f" >&2; done; fi' ERR

# A fresh database on the server the test command started.
DB=icu_prometheus_$$
PSQL=${PG_BIN:+$PG_BIN/}psql
"$PSQL" -q -d "$DATABASE_URL" -c "CREATE DATABASE $DB"
DB_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DATABASE_URL" "$DB")

"$BIN/icu" broker >"$WORK/broker.out" 2>"$WORK/broker.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s $WORK/broker.out ]] && break; sleep 0.1; done
BROKER=$(head -n1 "$WORK/broker.out")
[[ -n $BROKER ]] || { echo "the broker printed no address" >&2; exit 1; }

WARD_PORT=$(free_port) BAD_PORT=$(free_port) DATA_PORT=$(free_port) MONITOR_PORT=$(free_port) PROM_PORT=$(free_port)
export KAFKA_BOOTSTRAP_SERVERS=$BROKER METRICS_INTERVAL=1 HOST=127.0.0.1
# A ward of three (two stable, one tachycardic: NEWS2 2-3), and one patient
# with hypoxia: SpO2 ~88 % on oxygen and a raised respiratory rate, NEWS2 5-8.
PORT=$WARD_PORT "$BIN/patient-service" --patients 3 --seed 7 >"$WORK/ward.log" 2>&1 &
pids+=($!)
PORT=$BAD_PORT "$BIN/patient-service" --name "Hypoxic Patient" --bed 9 --condition hypoxia --seed 7 \
  >"$WORK/bad.log" 2>&1 &
pids+=($!)
PORT=$DATA_PORT DATABASE_URL=$DB_URL BATCH_MAX_WAIT_MS=100 SWEEP_INTERVAL=1 "$BIN/data-service" \
  >"$WORK/data.log" 2>&1 &
pids+=($!)
# AUTH_MODE=none: /metrics is open either way, and access control is the
# auth tests' subject; jwt, the binary's default, would need a provider here.
PORT=$MONITOR_PORT DATABASE_URL=$DB_URL AUTH_MODE=none "$BIN/monitor-service" >"$WORK/monitor.log" 2>&1 &
pids+=($!)

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/$RULES
scrape_configs:
  - job_name: patient-service
    static_configs: [{targets: ["127.0.0.1:$WARD_PORT", "127.0.0.1:$BAD_PORT"]}]
  - job_name: data-service
    static_configs: [{targets: ["127.0.0.1:$DATA_PORT"]}]
  - job_name: monitor-service
    static_configs: [{targets: ["127.0.0.1:$MONITOR_PORT"]}]
EOF
promtool check config "$WORK/prometheus.yml" >/dev/null
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --enable-feature=exemplar-storage --log.level=warn \
  >"$WORK/prometheus.log" 2>&1 &
pids+=($!)
PROM=http://127.0.0.1:$PROM_PORT

# The patients, from the emulators' control API.
patients() { python3 -c 'import json, sys, urllib.request as r
print(" ".join(p["uuid"] for p in json.load(r.urlopen(sys.argv[1]))["patients"]))' "$1"; }
for _ in $(seq 100); do patients "http://127.0.0.1:$BAD_PORT/api/v1/patients" >/dev/null 2>&1 && break; sleep 0.2; done
BAD=$(patients "http://127.0.0.1:$BAD_PORT/api/v1/patients")
read -r -a WARD <<<"$(patients "http://127.0.0.1:$WARD_PORT/api/v1/patients")"
STABLE=${WARD[0]}

# Traffic for the API dashboard: the ward, a patient, a page of readings, and
# refusals (an unknown patient, a bad uuid, an unmatched route).
python3 - "http://127.0.0.1:$MONITOR_PORT" "$BAD" "http://127.0.0.1:$WARD_PORT" <<'PY' >"$WORK/traffic.log" 2>&1 &
import sys, time, urllib.request
api, bad, ward = sys.argv[1:]
paths = [f"{api}/api/v1/patients", f"{api}/api/v1/patients/{bad}", f"{api}/api/v1/patients/{bad}/metrics?limit=5",
         f"{api}/api/v1/patients/00000000-0000-0000-0000-000000000000", f"{api}/api/v1/patients/not-a-uuid",
         f"{api}/nowhere", f"{ward}/api/v1/patients"]
while True:
    for url in paths:
        try:
            urllib.request.urlopen(url, timeout=5).read()
        except Exception:  # 4xx answers are the point; anything else shows in the panels
            pass
    time.sleep(0.5)
PY
pids+=($!)

started=$(date +%s)
python3 tests/prometheus/check_dashboards.py alert --prometheus "$PROM" --alert IcuNews2High \
  --fires "patient=$BAD" --silent "patient=$STABLE" --silent "patient=${WARD[1]}" --timeout 90
# Rates need two scrapes inside their window: wait for a few more.
sleep 3
python3 tests/prometheus/check_dashboards.py queries "$DASHBOARDS" --prometheus "$PROM" \
  --var "patient=$BAD" --rate-interval 10s --interval 2s --window 60
echo "prometheus stage: data and alerts checked $(( $(date +%s) - started )) s after the services started" >&2
