#!/usr/bin/env bash
# Start every service of xiaoer on this machine and print where to reach them.
# Rasa and the action server listen on 127.0.0.1 only: shoppers and agents go
# through the desk (or, until it runs, the REST webhook below).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var logs
PY=.venv/bin/python
RASA=.venv/bin/rasa
RASA_PORT=${XIAOER_RASA_PORT:-5005}
ACTION_PORT=${XIAOER_ACTION_PORT:-5055}
ROOT=$(pwd)
export PYTHONPATH="$ROOT" RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export XIAOER_ACTION_URL=${XIAOER_ACTION_URL:-http://127.0.0.1:$ACTION_PORT/webhook}
export XIAOER_TRACKER_DIALECT=${XIAOER_TRACKER_DIALECT:-sqlite}
export XIAOER_TRACKER_URL=${XIAOER_TRACKER_URL:-sqlite:///$ROOT/var/rasa_tracker.db}
export XIAOER_SHOP_DB_URL=${XIAOER_SHOP_DB_URL:-sqlite+aiosqlite:///$ROOT/var/shop.db}
export XIAOER_RASA_URL=${XIAOER_RASA_URL:-http://127.0.0.1:$RASA_PORT}
export XIAOER_RASA_TOKEN=${XIAOER_RASA_TOKEN:-$($PY -c 'import secrets; print(secrets.token_hex(16))')}

# demo shop data on first start, so there are buyers and orders to chat about
if [ ! -f var/shop.db ]; then
  $PY -m shop.demo >logs/demo-data.log 2>&1 || { echo "demo data failed; see logs/demo-data.log" >&2; exit 1; }
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

wait_for() {  # url name seconds
  for _ in $(seq "$3"); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$2 did not start within $3 s; see logs/" >&2; exit 1
}

# xiaoer.serve: loopback by default, internal hops authenticated, secrets from var/secrets (never argv)
XIAOER_ACTION_PORT="$ACTION_PORT" $PY -m xiaoer.serve actions >logs/actions.log 2>&1 &
pids+=($!)
XIAOER_RASA_PORT="$RASA_PORT" XIAOER_ACTION_PORT="$ACTION_PORT" $PY -m xiaoer.serve rasa >logs/rasa.log 2>&1 &
pids+=($!)

echo "starting the action server and Rasa (model loading takes about 30 s)..."
wait_for "http://127.0.0.1:$ACTION_PORT/health" "action server" 60
wait_for "http://127.0.0.1:$RASA_PORT/" "Rasa" 180

if [ -f desk/__main__.py ]; then
  $PY -m desk >logs/desk.log 2>&1 &
  pids+=($!)
  DESK_PORT=${XIAOER_DESK_PORT:-8080}
  wait_for "http://127.0.0.1:$DESK_PORT/health" "desk" 120
  echo
  echo "  storefront:    http://localhost:$DESK_PORT/"
  echo "  agent console: http://localhost:$DESK_PORT/console"
  echo "  agent login:   agent8 (工号 8) or super1 (supervisor), password $(cat var/desk_demo_password.txt 2>/dev/null || echo "\$XIAOER_DESK_AGENT_PASSWORD")"
fi
cat <<MSG

  xiaoer is running.
  chat (REST):   curl -s localhost:$RASA_PORT/webhooks/rest/webhook -H 'Content-Type: application/json' \\
                   -d '{"sender": "demo", "message": "在吗", "metadata": {"buyer_id": "buyer_001"}}'
  logs:          logs/rasa.log, logs/actions.log
  stop:          Ctrl-C
MSG
wait -n "${pids[@]}"
echo "a service stopped; see logs/" >&2
exit 1
