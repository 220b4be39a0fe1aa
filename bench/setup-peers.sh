#!/usr/bin/env bash
# Create bench/.venv-peers: a separate virtualenv holding the PyPI `nostr-relay` (the Python peer relay), installed
# from the hash-locked bench/peers.lock. Kept apart from the project's .venv because its dependencies may conflict.
#
# Regenerate the lock (only when changing bench/peers.in):
#   .venv/bin/uv pip compile bench/peers.in --generate-hashes --python-version 3.11 -o bench/peers.lock
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
uv="$root/.venv/bin/uv"
venv="$here/.venv-peers"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
if [ ! -x "$venv/bin/python" ]; then
    "$uv" venv --python "$python" "$venv"
fi
"$uv" pip sync --python "$venv/bin/python" --require-hashes "$here/peers.lock"
"$venv/bin/python" -c 'import nostr_relay, importlib.metadata as m; print("nostr-relay", m.version("nostr-relay"))'
