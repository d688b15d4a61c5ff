#!/usr/bin/env bash
# The scaled mode's databases, once PostgreSQL and Redis run (scripts/run.sh calls
# this through XIAOER_AFTER_DATABASES, set by scripts/run-scaled.sh): the three
# PostgreSQL databases, the desk's and the shop's schemas (Alembic migrations:
# an upgrade keeps the data), the demo agents and, on the first start only, the
# demo shop data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
S=${XIAOER_SCALED_DIR:?}
export PGPASSWORD
PGPASSWORD=$(cat "$S/pg_password")
pgargs=(-h 127.0.0.1 -p "$XIAOER_PG_PORT" -U xiaoer)

for _ in $(seq 60); do "$XIAOER_PG_BIN/pg_isready" -q "${pgargs[@]}" -d postgres && break; sleep 0.5; done
"$XIAOER_PG_BIN/pg_isready" -q "${pgargs[@]}" -d postgres || { echo "PostgreSQL did not start; see logs/postgres.log" >&2; exit 1; }
for _ in $(seq 60); do redis-cli -h 127.0.0.1 -p "$XIAOER_REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.5; done
redis-cli -h 127.0.0.1 -p "$XIAOER_REDIS_PORT" ping | grep -q PONG || { echo "Redis did not start; see logs/redis.log" >&2; exit 1; }

for db in rasa shop desk; do
  if [ -z "$("$XIAOER_PG_BIN/psql" "${pgargs[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    "$XIAOER_PG_BIN/createdb" "${pgargs[@]}" "$db"
  fi
done

$PY scripts/migrate.py upgrade >>"$XIAOER_LOG_DIR/migrate.log" 2>&1 || { echo "schema migration failed; see $XIAOER_LOG_DIR/migrate.log" >&2; exit 1; }

if [ ! -f "$S/demo-data.done" ]; then
  $PY -m shop.demo >"$XIAOER_LOG_DIR/demo-data.log" 2>&1 || { echo "demo data failed; see $XIAOER_LOG_DIR/demo-data.log" >&2; exit 1; }
  touch "$S/demo-data.done"
fi
# the demo accounts, made here once rather than by two desks racing at their first start
if [ ! -f "$S/desk-agents.done" ]; then
  XIAOER_DESK_NEW_PASSWORD=$XIAOER_DESK_AGENT_PASSWORD $PY -m desk create-agent agent8 --role agent --number 8 >/dev/null
  XIAOER_DESK_NEW_PASSWORD=$XIAOER_DESK_AGENT_PASSWORD $PY -m desk create-agent super1 --role supervisor --number 1 >/dev/null
  touch "$S/desk-agents.done"
fi
