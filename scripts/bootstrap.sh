#!/usr/bin/env bash
# Creates .venv and installs the locked dependencies and samizdat itself into it.
# Sourced by scripts/node and scripts/test; safe to run again (it only installs what changed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
if [ ! -x "$here/.venv/bin/python" ]; then
  "$py" -m venv "$here/.venv"
fi
stamp="$here/.venv/.samizdat-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$here/requirements.lock" "$stamp"; then
  "$here/.venv/bin/python" -m pip install -q --require-hashes -r "$here/requirements.lock"
  "$here/.venv/bin/python" -m pip install -q --no-deps -e "$here"
  cp "$here/requirements.lock" "$stamp"
fi
