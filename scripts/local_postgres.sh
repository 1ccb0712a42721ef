#!/usr/bin/env bash
# A private PostgreSQL for Dagster's cluster profile (dagster.cluster.yaml), on 127.0.0.1.
#
#   scripts/local_postgres.sh up   [STATE_DIR]   # install (Debian) if needed, initdb, start, create db
#   scripts/local_postgres.sh down [STATE_DIR]   # stop it (pg_ctl on the recorded data dir), remove STATE_DIR
#   scripts/local_postgres.sh env  [STATE_DIR]   # print the DAGSTER_PG_* exports dagster.cluster.yaml reads
#
# PostgreSQL refuses to run as root, so the server runs as the `postgres` system user that
# Debian's package creates. Port: SEC_PG_PORT (default 15432). Database/user/password: dagster.
set -euo pipefail
# shellcheck source=apt_wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_wait.sh"

cmd=${1:-}
STATE=${2:-${SEC_PG_DIR:-/tmp/sec-postgres}}
PORT=${SEC_PG_PORT:-15432}
log() { echo "local_postgres: $*" >&2; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z $d ]]; then
    log "installing postgresql"
    apt_install postgresql >&2
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$d"
}

as_pg() { runuser -u postgres -- "$@"; }

up() {
  local bin
  bin=$(bindir)
  if [[ -f $STATE/data/postmaster.pid ]]; then
    log "a server is recorded in $STATE already"
    exit 1
  fi
  mkdir -p "$STATE"
  chown postgres "$STATE"
  chmod 755 "$STATE"
  as_pg "$bin/initdb" -D "$STATE/data" -U postgres --auth=trust -E UTF8 >"$STATE/initdb.log" 2>&1 ||
    { cat "$STATE/initdb.log" >&2; log "initdb failed (the postgres user must be able to reach $STATE)"; exit 1; }
  as_pg "$bin/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -t 60 \
    -o "-p $PORT -k $STATE -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  as_pg psql -h 127.0.0.1 -p "$PORT" -U postgres -q -c "CREATE USER dagster PASSWORD 'dagster' CREATEDB" \
    -c "CREATE DATABASE dagster OWNER dagster"
  log "up on 127.0.0.1:$PORT (database dagster)"
}

down() {
  local bin
  bin=$(bindir)
  if [[ -f $STATE/data/postmaster.pid ]]; then
    as_pg "$bin/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$STATE"
  log "down"
}

case $cmd in
  up) up ;;
  down) down ;;
  env)
    echo "export DAGSTER_PG_HOST=127.0.0.1 DAGSTER_PG_PORT=$PORT DAGSTER_PG_USER=dagster"
    echo "export DAGSTER_PG_PASSWORD=dagster DAGSTER_PG_DB=dagster"
    ;;
  *) echo "usage: $0 up|down|env [STATE_DIR]" >&2; exit 2 ;;
esac
