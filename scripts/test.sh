#!/usr/bin/env bash
# The one test command (README "Test"; `make test`; `.ci/run`). Installs what
# the tests need on a fresh Debian/Ubuntu machine with a Rust toolchain,
# starts a throwaway PostgreSQL, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# librdkafka builds from source (rdkafka-sys): it needs a C toolchain and make.
need=()
command -v cc >/dev/null || need+=(build-essential)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  ${SUDO:-} apt-get update -qq && ${SUDO:-} apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A shared target dir outside the clone keeps rebuilds cheap on the same machine.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

# schemathesis (PyPI) fuzzes the running monitor-service against api/openapi.yaml.
SCHEMATHESIS_VERSION=4.32.5
VENV=${ICU_VENV:-${CARGO_TARGET_DIR}-venv}
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    ${SUDO:-} apt-get update -qq && ${SUDO:-} apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
export SCHEMATHESIS="$VENV/bin/schemathesis"

cargo build --workspace --all-targets --locked
exec scripts/with-postgres.sh cargo test --workspace --locked --no-fail-fast "$@"
