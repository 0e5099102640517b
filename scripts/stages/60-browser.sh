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
run_browser_test browser ward.test.mjs
