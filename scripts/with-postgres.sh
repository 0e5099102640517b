#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster: initdb into a temp
# dir, listen on 127.0.0.1 at a free port, export DATABASE_URL, run the
# command, stop and delete the cluster. Installs PostgreSQL when missing.
set -euo pipefail

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/initdb" ]] && { echo "$dir"; return 0; }
  done
  return 1
}

if ! PG_BIN=$(pg_bin); then
  echo "with-postgres: installing PostgreSQL (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  ${SUDO:-} apt-get update -qq
  ${SUDO:-} apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  PG_BIN=$(pg_bin)
fi

PGDIR=$(mktemp -d /tmp/icu-pg.XXXXXX)
PORT=${PGPORT_OVERRIDE:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}

# initdb refuses to run as root; the postgres system user exists once the package is installed.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  chown postgres "$PGDIR"
  as_pg=(runuser -u postgres --)
fi

cleanup() {
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT

"${as_pg[@]}" "$PG_BIN/initdb" -D "$PGDIR/data" -A trust -U postgres --no-sync >/dev/null
# fsync stays on (durability is what the ingest benchmark measures); many
# connections because every test opens its own database.
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PGDIR/data" -w -l "$PGDIR/log" \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k $PGDIR -c max_connections=400 -c shared_buffers=256MB" start >/dev/null

export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
# For tools that need the cluster itself (testkit's private clusters, stages).
export PG_BIN PG_PORT=$PORT
echo "with-postgres: PostgreSQL on 127.0.0.1:$PORT" >&2
"$@"
