#!/usr/bin/env bash
# The FHIR R4 routes against an external validator: `icu demo` on a fresh
# database of the test PostgreSQL, one patient in each of the emulator's
# conditions; every patient's Observation bundle (all pages) and Patient
# resource are parsed by the FHIR 4.0.1 models of PyPI's fhir.resources
# (6.1.0, the last release whose default models are R4 rather than R4B or
# R5), then checked for what the vital-signs profile asks (category, LOINC
# codes, UCUM units, components, subject, effectiveDateTime) and against
# the REST API's own readings (tests/fhir/check_fhir.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

# A venv of its own: fhir.resources 6.1.0 needs pydantic 1, which other
# stages' tools in the shared venv may not accept.
export VENV="$VENV-fhir"
pip_install "fhir.resources==6.1.0" "pydantic==1.10.26"

target=${CARGO_TARGET_DIR:-target}
[[ -x $target/debug/icu ]] || cargo build -p icu --locked
: "${DATABASE_URL:?run under scripts/with-postgres.sh (make test does)}"
db=icu_fhir_$$
work=$(mktemp -d /tmp/icu-fhir.XXXXXX)
demo=
cleanup() {
  [[ -n $demo ]] && { kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; }
  "$PG_BIN/psql" -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'status=$?; ((status)) && { echo "--- icu demo log" >&2; tail -n 40 "$work/demo.log" >&2; }' ERR
"$PG_BIN/psql" -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null

emulator=$(free_port) data=$(free_port) api=$(free_port)
"$target/debug/icu" demo --database-url "${DATABASE_URL%/*}/$db" --patients 7 --interval 1 \
  --patient-port "$emulator" --data-port "$data" --api-port "$api" >"$work/demo.log" 2>&1 &
demo=$!
"$VENV/bin/python" tests/fhir/check_fhir.py --api "http://127.0.0.1:$api" --emulator "http://127.0.0.1:$emulator"
