#!/usr/bin/env bash
# Run every service of xiaoer on this machine under supervisord and print where
# to reach them. A component that dies is restarted by supervisord while the
# others keep serving (deploy/supervisord.conf says how).
#
#   scripts/run.sh [start]   start (or say it is already running), print URLs and logins
#   scripts/run.sh stop      stop every component and supervisord
#   scripts/run.sh status    one line per component
#   scripts/run.sh ctl ...   any supervisorctl command (restart rasa:*, tail -f desk:desk-8080 ...)
#
# Rasa and the action server listen on 127.0.0.1 only: shoppers and agents go
# through the desk, which sends each conversation to one of the Rasa workers
# (deploy/processes.yml: 2; XIAOER_RASA_WORKERS wins). Scaled mode (PostgreSQL, Redis, several workers):
# scripts/run-scaled.sh, which sets XIAOER_SCALED=true and the store URLs, then calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=.venv/bin/python

export XIAOER_ROOT="$ROOT"
export XIAOER_RUN_DIR=${XIAOER_RUN_DIR:-$ROOT/var}
export XIAOER_LOG_DIR=${XIAOER_LOG_DIR:-$ROOT/logs}
mkdir -p "$XIAOER_RUN_DIR" "$XIAOER_LOG_DIR" var
CONF=deploy/supervisord.conf
ctl() { "$PY" -m supervisor.supervisorctl -c "$CONF" "$@"; }
running() { [ -S "$XIAOER_RUN_DIR/supervisor.sock" ] && ctl pid >/dev/null 2>&1; }

case "${1:-start}" in
  stop)
    if running; then
      ctl stop all >/dev/null || true
      pid=$(ctl pid)
      ctl shutdown >/dev/null
      # shutdown returns before supervisord has exited: wait, so a `make run` right after works
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      echo "xiaoer stopped"
    else
      echo "xiaoer is not running"
    fi
    exit 0 ;;
  status)
    if running; then ctl status || true; else echo "xiaoer is not running"; fi
    exit 0 ;;
  ctl)
    shift; ctl "$@"; exit $? ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status|ctl ...]" >&2; exit 2 ;;
esac

export PYTHONPATH="$ROOT" RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export XIAOER_RASA_PORT=${XIAOER_RASA_PORT:-5005}
export XIAOER_ACTION_PORT=${XIAOER_ACTION_PORT:-5055}
export XIAOER_DESK_PORT=${XIAOER_DESK_PORT:-8080}
# how many of each: the environment, else deploy/processes.yml (2 Rasa workers, 1 action server)
setting() {  # key default
  "$PY" -c 'import sys, yaml
try:
    v = (yaml.safe_load(open(sys.argv[1], encoding="utf-8")) or {}).get(sys.argv[2])
except OSError:
    v = None
print(v if isinstance(v, int) and v > 0 else sys.argv[3])' deploy/processes.yml "$1" "$2"
}
export XIAOER_RASA_WORKERS=${XIAOER_RASA_WORKERS:-$(setting rasa_workers 1)}
export XIAOER_ACTION_WORKERS=${XIAOER_ACTION_WORKERS:-$(setting action_workers 1)}
export XIAOER_DESK_WORKERS=${XIAOER_DESK_WORKERS:-1}
export XIAOER_MODEL=${XIAOER_MODEL:-$ROOT/models/current.tar.gz}
export XIAOER_SUPERVISOR_FOREGROUND=${XIAOER_SUPERVISOR_FOREGROUND:-false}
# which components to start (a test may start fewer)
COMPONENTS=${XIAOER_COMPONENTS:-actions rasa desk}
has() { [[ " $COMPONENTS " == *" $1 "* ]]; }
# scaled mode only (scripts/run-scaled.sh); harmless placeholders otherwise
export XIAOER_SCALED=${XIAOER_SCALED:-false}
export XIAOER_DB_USER=${XIAOER_DB_USER:-$(id -un)}
export XIAOER_PG_BIN=${XIAOER_PG_BIN:-/usr/bin} XIAOER_PG_DATA=${XIAOER_PG_DATA:-$ROOT/var/pg} XIAOER_PG_PORT=${XIAOER_PG_PORT:-0}
export XIAOER_REDIS_PORT=${XIAOER_REDIS_PORT:-0} XIAOER_REDIS_DATA=${XIAOER_REDIS_DATA:-$ROOT/var/redis}

ports() { seq "$1" $(( $1 + $2 - 1 )); }
first_rasa=$XIAOER_RASA_PORT
first_action=$XIAOER_ACTION_PORT
rasa_urls=$(for p in $(ports "$first_rasa" "$XIAOER_RASA_WORKERS"); do printf 'http://127.0.0.1:%s,' "$p"; done)
# the desk sends each conversation to one Rasa worker, chosen by sender (desk/rasa.py)
export XIAOER_RASA_URL=${rasa_urls%,}
# each Rasa worker's action server is set in deploy/supervisord.conf (worker i -> action server i mod N)
unset XIAOER_ACTION_URL
export XIAOER_TRACKER_DIALECT=${XIAOER_TRACKER_DIALECT:-sqlite}
export XIAOER_TRACKER_URL=${XIAOER_TRACKER_URL:-sqlite:///$ROOT/var/rasa_tracker.db}
export XIAOER_LOCK_STORE=${XIAOER_LOCK_STORE:-in_memory}
export XIAOER_LOCK_STORE_HOST=${XIAOER_LOCK_STORE_HOST:-127.0.0.1} XIAOER_LOCK_STORE_PORT=${XIAOER_LOCK_STORE_PORT:-6379}
export XIAOER_LOCK_STORE_PASSWORD=${XIAOER_LOCK_STORE_PASSWORD:-}
export XIAOER_SHOP_DB_URL=${XIAOER_SHOP_DB_URL:-sqlite+aiosqlite:///$ROOT/var/shop.db}
# secrets (Rasa's API token, the action and channel secrets, the desk's key) are read by each
# process from XIAOER_<NAME>_SECRET or var/secrets/<name> (0600): never on a command line

if running; then
  echo "xiaoer is already running (make stop first to restart it):"
  ctl status || true
  exit 0
fi
if has rasa && [ ! -f "$XIAOER_MODEL" ]; then
  echo "no trained model at $XIAOER_MODEL: run make train (make run does it for you)" >&2; exit 1
fi

wait_for() {  # url name seconds
  for _ in $(seq $(( $3 * 5 ))); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not start within $3 s; see $XIAOER_LOG_DIR/ (scripts/run.sh status)" >&2; exit 1
}

"$PY" -m supervisor.supervisord -c "$CONF"
for _ in $(seq 50); do running && break; sleep 0.2; done
running || { echo "supervisord did not start; see $XIAOER_LOG_DIR/supervisord.log" >&2; exit 1; }

if [ "$XIAOER_SCALED" = true ]; then
  # the databases first; scripts/run-scaled.sh prepares them (schemas, demo data) in this hook
  ctl start postgres redis >/dev/null
  if [ -n "${XIAOER_AFTER_DATABASES:-}" ]; then
    $XIAOER_AFTER_DATABASES || { echo "preparing the databases failed; stopping" >&2; "$0" stop; exit 1; }
  fi
elif [[ "$XIAOER_SHOP_DB_URL" == *"$ROOT/var/shop.db" ]] && ! "$PY" -c '
import sqlite3, sys
sys.exit(0 if sqlite3.connect(sys.argv[1]).execute("select count(*) from shop_buyers").fetchone()[0] else 1)
' var/shop.db 2>/dev/null; then
  # demo shop data on first start, so there are buyers and orders to chat about; also when
  # the file exists without buyers (`make test` leaves an empty var/shop.db behind)
  $PY -m shop.demo >"$XIAOER_LOG_DIR/demo-data.log" 2>&1 \
    || { echo "demo data failed; see $XIAOER_LOG_DIR/demo-data.log" >&2; "$0" stop; exit 1; }
fi

# supervisorctl start returns once each process has lived `startsecs`, one component after the
# other (Rasa began 5 s after the action server, the desk 10 s after Rasa): one supervisorctl per
# component in the background instead, the health checks below wait for them to serve. The desk
# starts once Rasa serves: its start-up sweep answers, through Rasa, turns a dead desk left.
for c in actions rasa; do if has "$c"; then ctl start "$c:*" >/dev/null 2>&1 & fi; done
echo "starting $COMPONENTS (about 15 s with 2 Rasa workers on 2 quiet cores)..."
if has actions; then for p in $(ports "$first_action" "$XIAOER_ACTION_WORKERS"); do wait_for "http://127.0.0.1:$p/health" "action server :$p" 90; done; fi
# a busy machine loads the model slower: XIAOER_START_SECONDS waits longer
rasa_wait=${XIAOER_START_SECONDS:-$(( 150 + 60 * XIAOER_RASA_WORKERS ))}
if has rasa; then for p in $(ports "$first_rasa" "$XIAOER_RASA_WORKERS"); do wait_for "http://127.0.0.1:$p/" "Rasa :$p" "$rasa_wait"; done; fi
if has desk; then ctl start "desk:*" >/dev/null 2>&1 & fi
if has desk; then for p in $(ports "$XIAOER_DESK_PORT" "$XIAOER_DESK_WORKERS"); do wait_for "http://127.0.0.1:$p/health" "desk :$p" 120; done; fi
# (the background supervisorctls are not waited for: the desk serves before its `startsecs` are up;
# a component that does not start is reported by its health check above)

password=${XIAOER_DESK_AGENT_PASSWORD:-$(cat var/desk_demo_password.txt 2>/dev/null || echo "\$XIAOER_DESK_AGENT_PASSWORD")}
echo
for p in $(ports "$XIAOER_DESK_PORT" "$XIAOER_DESK_WORKERS"); do
  echo "  storefront:    http://localhost:$p/"
  echo "  agent console: http://localhost:$p/console"
done
echo "  agent login:   agent8 (工号 8) or super1 (supervisor), password $password"
cat <<MSG

  xiaoer is running under supervisord: a component that stops is started again.
  chat (REST):   curl -s localhost:$first_rasa/webhooks/rest/webhook -H 'Content-Type: application/json' \\
                   -H "X-Xiaoer-Channel-Secret: \$(cat var/secrets/channel)" \\
                   -d '{"sender": "demo", "message": "在吗", "metadata": {"buyer_id": "buyer_001"}}'
  logs:          $XIAOER_LOG_DIR/ (one per component: rasa-$first_rasa.log, actions-$first_action.log, desk-$XIAOER_DESK_PORT.log)
  status:        make status
  stop:          make stop
MSG
