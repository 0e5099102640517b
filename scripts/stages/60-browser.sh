#!/usr/bin/env bash
# The ward pages in a real headless Chromium (Debian's `chromium`), driven by
# playwright-core (npm, pinned in tests/browser/package-lock.json), against
# `icu demo` on a fresh database: tiles render with values and change live, a
# patient made ill shows medium/high, a stopped monitor shows "no signal",
# the patient page draws its charts. Screenshots: $ARTIFACTS (default
# $CARGO_TARGET_DIR/artifacts/browser). UPDATE_SCREENSHOT=1 refreshes docs/ward.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
apt_install chromium
TARGET=${CARGO_TARGET_DIR:-target}
[[ -x $TARGET/debug/icu ]] || cargo build -p icu --locked
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
: "${DATABASE_URL:?run under scripts/with-postgres.sh (make test does)}"
db=icu_browser_$$
"$PG_BIN/psql" -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
trap '"$PG_BIN/psql" -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
export ARTIFACTS=${ARTIFACTS:-$TARGET/artifacts/browser}
ICU_BIN=$(realpath "$TARGET/debug/icu") DATABASE_URL="${DATABASE_URL%/*}/$db" node tests/browser/ward.test.mjs
