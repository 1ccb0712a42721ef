#!/usr/bin/env bash
# A private MLflow tracking server on 127.0.0.1 — what a cluster's steps log to, so concurrent
# steps on several nodes never share one SQLite file (MLflow's users report "database is locked").
#
#   scripts/local_mlflow.sh up   [STATE_DIR]   # start `mlflow server`, wait until it answers
#   scripts/local_mlflow.sh down [STATE_DIR]   # stop it (the recorded pid), remove STATE_DIR
#   scripts/local_mlflow.sh env  [STATE_DIR]   # print the SEC_MLFLOW_TRACKING_URI export
#
# Port: SEC_MLFLOW_PORT (default 15500). Backend store: SEC_MLFLOW_BACKEND, default a SQLite file
# in STATE_DIR behind the server (one writer: the server); a postgresql:// URI (e.g. the database
# of scripts/local_postgres.sh: postgresql+psycopg2://dagster:dagster@127.0.0.1:15432/mlflow) is created
# if missing. Artifacts: uploaded through the server into STATE_DIR/artifacts (on a cluster, put
# STATE_DIR on shared storage or point --artifacts-destination at it).
set -euo pipefail

cmd=${1:-}
STATE=${2:-${SEC_MLFLOW_DIR:-/tmp/sec-mlflow}}
PORT=${SEC_MLFLOW_PORT:-15500}
BACKEND=${SEC_MLFLOW_BACKEND:-sqlite:///$STATE/mlflow.db}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SEC_MLFLOW_BIN:-$HERE/.venv/bin}
log() { echo "local_mlflow: $*" >&2; }

create_postgres_db() {
  "$BIN/python" - "$BACKEND" <<'PY'
import sys
from urllib.parse import urlparse

import psycopg2

url = urlparse(sys.argv[1])
name = url.path.lstrip("/")
conn = psycopg2.connect(
    host=url.hostname, port=url.port or 5432, user=url.username, password=url.password, dbname="postgres"
)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if cur.fetchone() is None:
        cur.execute(f'CREATE DATABASE "{name}"')
PY
}

up() {
  if [[ -f $STATE/server.pid ]] && kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then
    log "a server is recorded in $STATE already (pid $(cat "$STATE/server.pid"))"
    exit 1
  fi
  mkdir -p "$STATE/artifacts"
  [[ $BACKEND == postgresql* ]] && create_postgres_db
  setsid "$BIN/mlflow" server --backend-store-uri "$BACKEND" --artifacts-destination "$STATE/artifacts" \
    --host 127.0.0.1 --port "$PORT" --workers 2 >"$STATE/server.log" 2>&1 </dev/null &
  echo $! >"$STATE/server.pid"
  for _ in $(seq 1 120); do
    if "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" 2>/dev/null; then
      log "up on http://127.0.0.1:$PORT (backend ${BACKEND%%://*}, artifacts $STATE/artifacts)"
      return 0
    fi
    if ! kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then
      tail -n 30 "$STATE/server.log" >&2
      log "the server exited"
      exit 1
    fi
    sleep 0.5
  done
  tail -n 30 "$STATE/server.log" >&2
  log "no answer on port $PORT within 60 s"
  exit 1
}

down() {
  if [[ -f $STATE/server.pid ]]; then
    local pid
    pid=$(cat "$STATE/server.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -rf "$STATE"
  log "down"
}

case $cmd in
  up) up ;;
  down) down ;;
  env) echo "export SEC_MLFLOW_TRACKING_URI=http://127.0.0.1:$PORT" ;;
  *) echo "usage: $0 up|down|env [STATE_DIR]" >&2; exit 2 ;;
esac
