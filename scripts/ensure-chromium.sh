#!/usr/bin/env bash
# Make sure a headless Chromium is on this machine for the desk's browser test
# (tests/desk/test_e2e_browser.py drives it over the DevTools protocol).
# Debian's packages only: no browser download of its own.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then echo "chromium: $(command -v "$b")"; exit 0; fi
done
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "chromium missing and not root: install it with 'apt-get install -y chromium'" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
echo "chromium: $(command -v chromium)"
