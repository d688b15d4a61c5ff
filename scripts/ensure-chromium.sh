#!/usr/bin/env bash
# Make sure a headless Chromium is on this machine for the desk's browser test
# (tests/desk/test_e2e_browser.py drives it with Playwright, executable_path=/usr/bin/chromium),
# and a CJK font so the Chinese in its screenshots is readable (and colour emoji for the widget's picker).
# Debian's packages only: no browser download of its own.
set -euo pipefail
have_font() { fc-list 2>/dev/null | grep -qi "wqy\|zenhei\|noto sans cjk" && fc-list 2>/dev/null | grep -qi "emoji"; }
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1 && have_font; then echo "chromium: $(command -v "$b")"; exit 0; fi
done
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "chromium or a CJK font missing and not root: apt-get install -y chromium fonts-wqy-zenhei fonts-noto-color-emoji" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium fonts-wqy-zenhei fonts-noto-color-emoji >/dev/null
echo "chromium: $(command -v chromium)"
