#!/usr/bin/env bash
# Make sure Debian's PostgreSQL and Redis servers are on this machine for the
# integration suite (tests/integration/) and `make run-scaled`. Only the
# binaries: nothing is started here, and no system service is used (the tests
# and run-scaled start their own on loopback ports with their own data dirs).
set -euo pipefail
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
have() { [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/postgres" ] && command -v redis-server >/dev/null 2>&1; }
if have; then echo "postgresql: $(pg_bin)  redis-server: $(command -v redis-server)"; exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "postgresql/redis-server missing and not root: install them with 'apt-get install -y postgresql redis-server'" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d: on a machine with init scripts, do not start the system's own servers on 5432/6379
printf '#!/bin/sh\nexit 101\n' > /tmp/xiaoer-policy-rc.d && chmod +x /tmp/xiaoer-policy-rc.d
if [ ! -e /usr/sbin/policy-rc.d ]; then $SUDO cp /tmp/xiaoer-policy-rc.d /usr/sbin/policy-rc.d; trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT; fi
$SUDO apt-get install -y -qq postgresql redis-server >/dev/null
have || { echo "postgresql/redis-server still missing after apt-get install" >&2; exit 1; }
echo "postgresql: $(pg_bin)  redis-server: $(command -v redis-server)"
