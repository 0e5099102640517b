#!/usr/bin/env bash
# Trace-id exemplars through a real Prometheus (Debian's package, with
# --enable-feature=exemplar-storage): monitor-service (debug binary of the
# workspace build) traces with OTEL_TRACES_SAMPLER=parentbased_always_off,
# so the caller's traceparent decides; requests with a sampled and an
# unsampled traceparent; Prometheus scrapes /metrics (OpenMetrics) every
# second; its exemplar API must return the sampled request's trace id on
# icu_http_request_duration_seconds_bucket, with trace_id as the only label,
# and never the unsampled one's. Spans go to a closed port (their export
# fails quietly): this stage is about the metrics, 20-otel about the spans.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

apt_install prometheus curl
: "${DATABASE_URL:?the stage runs under scripts/with-postgres.sh (make test)}"
BIN=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}/debug
[[ -x $BIN/monitor-service ]] || { echo "missing $BIN/monitor-service: build the workspace first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/icu-exemplars.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh database on the server the test command started.
DB=icu_exemplars_$$
PSQL=${PG_BIN:+$PG_BIN/}psql
"$PSQL" -q -d "$DATABASE_URL" -c "CREATE DATABASE $DB"
DB_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DATABASE_URL" "$DB")

PORT=$(free_port)
PROM_PORT=$(free_port)
DATABASE_URL=$DB_URL OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 OTEL_TRACES_SAMPLER=parentbased_always_off AUTH_MODE=none \
  PORT=$PORT HOST=127.0.0.1 "$BIN/monitor-service" >"$WORK/monitor.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "25-exemplars: monitor-service not ready" >&2; cat "$WORK/monitor.log" >&2; exit 1; }
content_type=$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PORT/metrics")
[[ $content_type == application/openmetrics-text* ]] || { echo "25-exemplars: /metrics answers $content_type" >&2; exit 1; }

SAMPLED=4bf92f3577b34da6a3ce929d0e0e4736
UNSAMPLED=0af7651916cd43dd8448eb211c80319c
curl -sf -o /dev/null -H "traceparent: 00-$UNSAMPLED-00f067aa0ba902b7-00" "http://127.0.0.1:$PORT/healthz"
curl -sf -o /dev/null -H "traceparent: 00-$SAMPLED-00f067aa0ba902b7-01" "http://127.0.0.1:$PORT/healthz"

cat >"$WORK/prometheus.yml" <<EOF
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: monitor-service
    static_configs: [{targets: ["127.0.0.1:$PORT"]}]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --enable-feature=exemplar-storage --log.level=warn \
  >"$WORK/prometheus.log" 2>&1 &
pids+=($!)

query="http://127.0.0.1:$PROM_PORT/api/v1/query_exemplars?query=icu_http_request_duration_seconds_bucket"
for _ in $(seq 60); do
  now=$(date +%s)
  if curl -sf "$query&start=$((now - 300))&end=$now" >"$WORK/exemplars.json" 2>/dev/null \
    && grep -q "$SAMPLED" "$WORK/exemplars.json"; then
    break
  fi
  sleep 0.5
done
python3 - "$WORK/exemplars.json" "$SAMPLED" "$UNSAMPLED" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["data"]
found = [(s["seriesLabels"], e["labels"]) for s in data for e in s["exemplars"]]
assert found, "Prometheus holds no exemplar of icu_http_request_duration_seconds_bucket"
assert all(set(labels) == {"trace_id"} for _, labels in found), found
ids = {labels["trace_id"] for _, labels in found}
assert sys.argv[2] in ids, f"the sampled request's trace {sys.argv[2]} is not an exemplar: {ids}"
assert sys.argv[3] not in ids, "the unsampled request left an exemplar"
healthz = [s for s, labels in found if labels["trace_id"] == sys.argv[2]]
assert all(s["route"] == "/healthz" for s in healthz), healthz
print(f"25-exemplars ok: Prometheus stored the sampled request's trace {sys.argv[2]} as an exemplar, not the unsampled one")
PY
