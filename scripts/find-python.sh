#!/usr/bin/env sh
# Print a Python 3.10 interpreter (Rasa 3.6 supports <= 3.10), or fail saying why.
for cand in python3.10 "$(command -v pyenv >/dev/null 2>&1 && pyenv prefix 3.10 2>/dev/null)/bin/python3.10"; do
  if [ -n "$cand" ] && "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    command -v "$cand" 2>/dev/null || echo "$cand"; exit 0
  fi
done
for cand in "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do
  if [ -x "$cand" ] && "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    echo "$cand"; exit 0
  fi
done
echo "xiaoer needs Python 3.10 (Rasa 3.6 supports 3.10 at most): install python3.10 and retry" >&2
exit 1
