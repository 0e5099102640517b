#!/usr/bin/env bash
# The ward pages with access control on (AUTH_MODE=jwt), in a real headless
# Chromium (Debian's), driven by playwright-core, against a real OpenID
# provider started by the test (npm's oidc-provider on 127.0.0.1; both
# pinned in tests/browser/package-lock.json) and `icu demo --auth-mode jwt`
# on a fresh database: login by code flow + PKCE as a patient (own bed only,
# another patient's page refused) and as a clinician (the whole ward, live).
# Screenshots and logs: $ARTIFACTS (default $CARGO_TARGET_DIR/artifacts/oidc-browser).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
run_browser_test oidc-browser oidc.test.mjs
