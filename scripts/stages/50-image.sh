#!/usr/bin/env bash
# The container image: built from the Dockerfile's runtime stage (`make image`),
# then the three services run as containers from it, hardened as the chart runs
# them (read-only root, UID 65532, no capabilities, no privilege escalation),
# against the test PostgreSQL and a Kafka-protocol broker on this host, both
# addressed by host names that must resolve inside the scratch image. Readings
# must flow from the emulator container to the API container.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
: "${DATABASE_URL:?run through scripts/with-postgres.sh}"
: "${PG_BIN:?run through scripts/with-postgres.sh}"

apt_install podman runc binutils ca-certificates

start=$(date +%s)
image=$(scripts/build-image.sh)
echo "image: $image built in $(( $(date +%s) - start ))s" >&2

work=$(mktemp -d /tmp/icu-image.XXXXXX)
run_id=$$
# Named here, not inside run(): run() is called in a command substitution
# (a subshell), where adding to this array would be lost, leaving cleanup
# nothing to remove and the read-only check below nothing to check.
containers=("icu-monitor-$run_id" "icu-data-$run_id" "icu-patients-$run_id")
broker_pid=
db=icu_image_$run_id
cleanup() {
  local c
  for c in "${containers[@]}"; do podman --runtime runc rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
  [[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null || true
  "$PG_BIN/psql" -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# This sandbox: crun cannot setrlimit, so runc and no default ulimits (shared/TOOLS.md).
printf '[containers]\ndefault_ulimits = []\n' > "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
pod() { podman --runtime runc "$@"; }

# The image itself: no shell, OCI labels, non-root user.
pod image inspect "$image" --format '{{.Config.User}} {{index .Config.Labels "org.opencontainers.image.version"}}' \
  | grep -qx '65532:65532 [0-9][0-9.]*' || { echo "image user or version label wrong" >&2; exit 1; }
if pod run --rm "$image" /bin/sh -c true >/dev/null 2>&1; then echo "the image has a shell; it should be scratch" >&2; exit 1; fi

"$PG_BIN/psql" -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
port=${DATABASE_URL##*@127.0.0.1:}; port=${port%%/*}
# Host names, not IPs: the containers resolve them through the /etc/hosts podman writes.
db_url="postgres://postgres@db.icu.test:$port/$db"

"$CARGO_TARGET_DIR/debug/icu" broker >"$work/broker.out" 2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 100); do [[ -s $work/broker.out ]] && break; sleep 0.1; done
bootstrap=$(head -1 "$work/broker.out")
[[ $bootstrap == 127.0.0.1:* ]] || { echo "broker did not start: $(cat "$work/broker.log")" >&2; exit 1; }
kafka="kafka.icu.test:${bootstrap##*:}"

hardened=(--read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges
          --network host --add-host db.icu.test:127.0.0.1 --add-host kafka.icu.test:127.0.0.1
          --env LOG_FORMAT=json)
# run NAME PORT ARGS...: starts a service container, waits for /readyz, prints seconds from container start to ready.
run() {
  local name=$1-$run_id port=$2; shift 2
  pod run -d --name "$name" "${hardened[@]}" --env "PORT=$port" "$@" >/dev/null
  local started
  started=$(pod inspect "$name" --format '{{.State.StartedAt}}')
  if ! python3 tests/image/wait_ready.py "http://127.0.0.1:$port/readyz" "$started" 60; then
    pod logs "$name" 2>&1 | tail -20 >&2; return 1
  fi
}
api_port=$(free_port); data_port=$(free_port); emu_port=$(free_port)
t_api=$(run icu-monitor "$api_port" --env "DATABASE_URL=$db_url" --env AUTH_MODE=none \
  --env METRICS_INTERVAL=1 "$image" /usr/local/bin/monitor-service)
t_data=$(run icu-data "$data_port" --env "DATABASE_URL=$db_url" --env "KAFKA_BOOTSTRAP_SERVERS=$kafka" \
  --env BATCH_MAX_WAIT_MS=50 "$image" /usr/local/bin/data-service)
t_emu=$(run icu-patients "$emu_port" --env "KAFKA_BOOTSTRAP_SERVERS=$kafka" --env PATIENTS=4 \
  --env METRICS_INTERVAL=0.5 "$image" /usr/local/bin/patient-service)
echo "start-to-ready (s, container start to /readyz 200): monitor-service $t_api, data-service $t_data, patient-service $t_emu" >&2

python3 tests/image/check_flow.py "http://127.0.0.1:$emu_port" "http://127.0.0.1:$api_port" 60 \
  || { for c in "${containers[@]}"; do echo "--- $c" >&2; pod logs "$c" 2>&1 | tail -15 >&2; done; exit 1; }

checked=0
for c in "${containers[@]}"; do
  [[ $(pod inspect "$c" --format '{{.State.Running}} {{.HostConfig.ReadonlyRootfs}}') == "true true" ]] \
    || { echo "$c is not running read-only" >&2; exit 1; }
  checked=$((checked + 1))
done
echo "containers running read-only: $checked" >&2
size=$(pod image inspect "$image" --format '{{.Size}}')
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
line="image $image: $(mb "$size"); binaries:"
for bin in patient-service data-service monitor-service; do
  line+=" $bin $(mb "$(stat -c %s "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$bin")")"
done
echo "$line" >&2
