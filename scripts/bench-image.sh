#!/usr/bin/env bash
# Benchmark: start-to-ready of the services as hardened containers from the
# image vs. the same static binaries run directly, in one sitting (so the
# machine's load hits both alike). Run through scripts/with-postgres.sh:
#   scripts/with-postgres.sh scripts/bench-image.sh [ROUNDS=5]
# Prints one line per service: median and range of seconds from start to
# /readyz 200 (container: podman's StartedAt; native: just before exec).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
rounds=${1:-5}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}
image=$(scripts/build-image.sh)
bin=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release
work=$(mktemp -d)
printf '[containers]\ndefault_ulimits = []\n' > "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
"$CARGO_TARGET_DIR/debug/icu" broker >"$work/broker.out" 2>/dev/null &
broker=$!
trap 'kill $broker 2>/dev/null; rm -rf "$work"' EXIT
until [[ -s $work/broker.out ]]; do sleep 0.1; done
kafka=$(head -1 "$work/broker.out")
# The monitor-service migrates the database once; later starts find it current.
env=(DATABASE_URL="$DATABASE_URL" KAFKA_BOOTSTRAP_SERVERS="$kafka" AUTH_MODE=none PATIENTS=4)
cenv=(); for e in "${env[@]}"; do cenv+=(--env "$e"); done

uptime
for svc in monitor-service data-service patient-service; do
  native=() container=()
  for _ in $(seq "$rounds"); do
    port=$(free_port)
    started=$(date -u '+%Y-%m-%d %H:%M:%S.%N +0000 UTC')
    env "${env[@]}" PORT="$port" "$bin/$svc" >/dev/null 2>&1 &
    pid=$!
    native+=("$(python3 tests/image/wait_ready.py "http://127.0.0.1:$port/readyz" "$started" 30)")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    port=$(free_port)
    name=bench-$svc-$$
    podman --runtime runc run -d --name "$name" --read-only --user 65532:65532 --cap-drop ALL \
      --security-opt no-new-privileges --network host "${cenv[@]}" --env PORT="$port" \
      "$image" "/usr/local/bin/$svc" >/dev/null
    container+=("$(python3 tests/image/wait_ready.py "http://127.0.0.1:$port/readyz" \
      "$(podman --runtime runc inspect "$name" --format '{{.State.StartedAt}}')" 30)")
    podman --runtime runc rm -f -t 1 "$name" >/dev/null
  done
  python3 - "$svc" "${native[*]}" "${container[*]}" <<'PY'
import statistics, sys
svc, native, container = sys.argv[1], list(map(float, sys.argv[2].split())), list(map(float, sys.argv[3].split()))
fmt = lambda xs: f"median {statistics.median(xs)*1000:.0f} ms ({min(xs)*1000:.0f}-{max(xs)*1000:.0f})"
print(f"{svc}: native {fmt(native)}, container {fmt(container)}")
PY
done
