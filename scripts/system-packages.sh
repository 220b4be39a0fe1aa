#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/apt/*.txt (one per line, # comments) that are missing.
# A line may name a command after the package ("npm npm"): then the package is skipped when the command exists.
# Called by scripts/test: the namespace, browser and censorship tests need real programs (ip, nft, chromium...).
# Needs root (CI runs as root) or sudo; without either it says what to install and carries on.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wanted=()
for list in "$here"/scripts/apt/${1:-*}.txt; do  # unquoted: the * must expand
  [ -f "$list" ] || continue
  while read -r pkg cmd _; do
    case "$pkg" in ''|'#'*) continue ;; esac
    # "package command": skip when that command is already there, however it was installed
    case "$cmd" in ''|'#'*) ;; *) command -v "$cmd" >/dev/null 2>&1 && continue ;; esac
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || wanted+=("$pkg")
  done <"$list"
done
[ ${#wanted[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system-packages: no apt-get here; install these yourself: ${wanted[*]}" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
    echo "system-packages: not root; install these as root for the tests that need them: ${wanted[*]}" >&2
    exit 0
  fi
fi
echo "system-packages: installing ${wanted[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
