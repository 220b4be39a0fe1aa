#!/usr/bin/env bash
# Creates .venv and installs the locked dependencies and samizdat itself into it.
# Sourced by scripts/node and scripts/test; safe to run again (it only installs what changed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
if [ ! -x "$here/.venv/bin/python" ]; then
  "$py" -m venv "$here/.venv"
fi
# Installed again when the lock, setup.py or the store's compiled fast path (src/samizdat/store/_fastadd.c) changed;
# the fast path needs a C compiler and SQLite's headers (scripts/apt/store-build.txt), and without them samizdat
# installs and runs without it (setup.py).
stamp="$here/.venv/.samizdat-lock"
want="$(cat "$here/requirements.lock" "$here/setup.py" "$here/src/samizdat/store/_fastadd.c" | sha256sum)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$here/scripts/system-packages.sh" store-build || true
  "$here/.venv/bin/python" -m pip install -q --require-hashes -r "$here/requirements.lock"
  "$here/.venv/bin/python" -m pip install -q --no-deps -e "$here"
  echo "$want" >"$stamp"
fi
# The web app (web/ -> src/samizdat/web/static/): npm ci and the esbuild build, when the built copy is missing
# or older than its sources. Needs node and npm (Debian's nodejs and npm, installed here if missing).
web="$here/web"
static="$here/src/samizdat/web/static"
if [ -f "$web/package.json" ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    "$here/scripts/system-packages.sh" web-build
  fi
  if ! command -v node >/dev/null; then
    echo "bootstrap: node is missing, so the web app is not built (the node serves its plain status page)" >&2
  else
    if [ ! -d "$web/node_modules" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
      (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
    if [ ! -f "$static/VERSION" ] || [ -n "$(find "$web/src" "$web/build.mjs" "$web/package-lock.json" -newer "$static/VERSION" -print -quit)" ]; then
      (cd "$web" && node build.mjs >&2)
    fi
  fi
fi
