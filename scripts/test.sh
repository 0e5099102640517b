#!/usr/bin/env bash
# The one test command (README "Test"; `make test`; `.ci/run`). Installs what
# the tests need on a fresh Debian/Ubuntu machine with a Rust toolchain,
# builds the workspace once, starts a throwaway PostgreSQL, and runs the
# stages of scripts/stages/ (see scripts/stages.sh; TEST_STAGES selects some).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# librdkafka builds from source (rdkafka-sys): it needs a C toolchain and make.
need=()
command -v cc >/dev/null || need+=(build-essential)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
((${#need[@]} == 0)) || apt_install "${need[@]}"

# A shared target dir outside the clone keeps rebuilds cheap on the same machine.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

cargo build --workspace --all-targets --locked
exec scripts/with-postgres.sh scripts/stages.sh "$@"
