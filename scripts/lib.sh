# Shared helpers for the test stages (sourced, not run).

# apt_install PKG...: installs the Debian packages that are missing, running
# `apt-get update` at most once per test run (a fresh machine has no lists).
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  export DEBIAN_FRONTEND=noninteractive
  if [[ ! -e ${ICU_APT_UPDATED:-/nonexistent} ]]; then
    ${SUDO:-} apt-get update -qq
    export ICU_APT_UPDATED=$(mktemp /tmp/icu-apt-updated.XXXXXX)
  fi
  echo "installing: ${missing[*]}" >&2
  ${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# free_port: a TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The test venv (PyPI tools: schemathesis and the checkers later stages add).
export VENV=${ICU_VENV:-${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}-venv}
ensure_venv() {
  [[ -x $VENV/bin/pip ]] && return 0
  python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
}
# pip_install 'pkg==version'...: installs into the venv (a no-op, without
# network, when every pinned requirement is already satisfied).
pip_install() {
  ensure_venv
  "$VENV/bin/pip" install -q --disable-pip-version-check "$@"
}

# run_browser_test NAME TEST.mjs: a test of tests/browser/ in Debian's
# headless Chromium (playwright-core and the other npm tools pinned in
# tests/browser/package-lock.json) against `icu demo` on a fresh database
# of the test PostgreSQL; screenshots and logs in $ARTIFACTS (default
# $CARGO_TARGET_DIR/artifacts/NAME).
run_browser_test() {
  local name=$1 test=$2
  apt_install chromium
  local target=${CARGO_TARGET_DIR:-target}
  [[ -x $target/debug/icu ]] || cargo build -p icu --locked
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  : "${DATABASE_URL:?run under scripts/with-postgres.sh (make test does)}"
  local db=icu_${name//-/_}_$$
  "$PG_BIN/psql" -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
  # shellcheck disable=SC2064 # the name is fixed now, on purpose
  trap "\"$PG_BIN/psql\" -q \"$DATABASE_URL\" -c \"DROP DATABASE IF EXISTS $db WITH (FORCE)\" >/dev/null 2>&1 || true" EXIT
  ARTIFACTS=${ARTIFACTS:-$target/artifacts/$name} ICU_BIN=$(realpath "$target/debug/icu") \
    DATABASE_URL="${DATABASE_URL%/*}/$db" node "tests/browser/$test"
}
