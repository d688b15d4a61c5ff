#!/usr/bin/env bash
# `make run-scaled`: xiaoer as it runs on several machines, tried on this one.
# PostgreSQL (Rasa's tracker store, the shop DB, the desk DB) and Redis (Rasa's
# lock store, the desks' shared live hub) run as local processes on free
# loopback ports with their data under var/scaled/, supervised like the rest;
# K Rasa workers (each conversation routed to one by the desk), as many action
# servers, and two desk processes sharing their live updates.
#
# Installs nothing: it uses Debian's postgresql and redis-server if present
# (`sudo apt-get install postgresql redis-server`, or scripts/ensure-services.sh).
# Stop with `make stop`, look with `make status`.
#   XIAOER_RASA_WORKERS (default 2), XIAOER_ACTION_WORKERS (2), XIAOER_DESK_WORKERS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=.venv/bin/python
S=${XIAOER_SCALED_DIR:-$ROOT/var/scaled}  # a test gives its own
mkdir -p "$S" logs

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/postgres" ] || ! command -v redis-server >/dev/null 2>&1; then
  cat >&2 <<'MSG'
make run-scaled needs Debian's PostgreSQL and Redis servers, which are not installed here.
Install them (nothing else is changed; no system service is used):
    sudo apt-get install -y postgresql redis-server      # or: scripts/ensure-services.sh
then run make run-scaled again.
MSG
  exit 1
fi

if [ "$(id -u)" = 0 ]; then DB_USER=postgres; else DB_USER=$(id -un); fi  # PostgreSQL refuses root
as_db() { if [ "$(id -u)" = 0 ]; then runuser -u "$DB_USER" -- "$@"; else "$@"; fi; }

# ports and secrets are chosen once and kept: the URLs stay the same from one start to the next
if [ ! -f "$S/ports.env" ]; then
  read -r pg_port redis_port < <($PY - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)
  printf 'XIAOER_PG_PORT=%s\nXIAOER_REDIS_PORT=%s\n' "$pg_port" "$redis_port" >"$S/ports.env"
fi
# shellcheck disable=SC1091
source "$S/ports.env"
secret() {  # name: a random secret kept in var/scaled/NAME (0600)
  [ -f "$S/$1" ] || (umask 077; $PY -c 'import secrets; print(secrets.token_urlsafe(18))' >"$S/$1")
  cat "$S/$1"
}
PG_PASSWORD=$(secret pg_password)

if [ ! -f "$S/pg/PG_VERSION" ]; then
  echo "creating the PostgreSQL cluster in $S/pg (port $XIAOER_PG_PORT)..."
  mkdir -p "$S/pg"
  pwfile=$(mktemp); echo "$PG_PASSWORD" >"$pwfile"
  if [ "$(id -u)" = 0 ]; then chown "$DB_USER" "$S/pg" "$pwfile"; fi
  as_db "$PG_BIN/initdb" -D "$S/pg" -U xiaoer --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
    >logs/initdb.log 2>&1 || { rm -f "$pwfile"; echo "initdb failed; see logs/initdb.log" >&2; exit 1; }
  rm -f "$pwfile"
fi
mkdir -p "$S/redis"
if [ "$(id -u)" = 0 ]; then
  chown "$DB_USER" "$S/redis"
  # PostgreSQL (its own user) reopens files by their full path, at every checkpoint: it must be
  # able to pass through var/ (kept 0700 otherwise, xiaoer.serve), though not to list or read it
  case "$S" in "$ROOT"/var/*) chmod o+x "$ROOT/var" ;; esac
fi

export XIAOER_SCALED=true XIAOER_DB_USER=$DB_USER XIAOER_PG_BIN=$PG_BIN XIAOER_PG_DATA=$S/pg
export XIAOER_PG_PORT XIAOER_REDIS_PORT XIAOER_REDIS_DATA=$S/redis
export XIAOER_RASA_WORKERS=${XIAOER_RASA_WORKERS:-2}
export XIAOER_ACTION_WORKERS=${XIAOER_ACTION_WORKERS:-$XIAOER_RASA_WORKERS}
export XIAOER_DESK_WORKERS=${XIAOER_DESK_WORKERS:-2}
pg="xiaoer:$PG_PASSWORD@127.0.0.1:$XIAOER_PG_PORT"
export XIAOER_TRACKER_DIALECT=postgresql XIAOER_TRACKER_URL="postgresql://$pg/rasa"
export XIAOER_LOCK_STORE=rasa_ext.stores.LeasedRedisLockStore XIAOER_LOCK_STORE_HOST=127.0.0.1 XIAOER_LOCK_STORE_PORT=$XIAOER_REDIS_PORT
export XIAOER_SHOP_DB_URL="postgresql+asyncpg://$pg/shop"
export XIAOER_DESK_DB_URL="postgresql+asyncpg://$pg/desk"
export XIAOER_DESK_HUB_URL="redis://127.0.0.1:$XIAOER_REDIS_PORT/2"
export XIAOER_DESK_AGENT_PASSWORD=${XIAOER_DESK_AGENT_PASSWORD:-$(secret desk_agent_password)}
export XIAOER_DESK_SECRET=${XIAOER_DESK_SECRET:-$(secret desk_secret)}
# run.sh calls this once PostgreSQL and Redis run under supervisord
export XIAOER_AFTER_DATABASES="$ROOT/scripts/prepare-databases.sh"
export XIAOER_SCALED_DIR=$S
exec scripts/run.sh start
