#!/usr/bin/env bash
# Every Rust test of the workspace: unit tests, and integration tests against
# the throwaway PostgreSQL and librdkafka's mock cluster (a real broker on TCP).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
# schemathesis (PyPI) fuzzes the running monitor-service against api/openapi.yaml.
pip_install "schemathesis==4.32.5"
export SCHEMATHESIS="$VENV/bin/schemathesis"
cargo test --workspace --locked --no-fail-fast "$@"
