#!/usr/bin/env bash
# Installs the pinned test tools into one venv outside the repository. Idempotent: does nothing
# when the venv already holds exactly scripts/requirements-tools.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=${LF_TOOLS:-$HOME/.cache/log-forwarder-tools}
requirements="$here/requirements-tools.txt"
stamp="$tools/venv/.requirements"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
  echo "==> tools: up to date in $tools/venv"
  exit 0
fi
echo "==> tools: installing pinned moto, osmem-server, cargo-lambda, zig into $tools/venv"
mkdir -p "$tools"
if [ ! -x "$tools/venv/bin/python" ]; then
  python3 -m venv "$tools/venv" || { echo "tools: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
fi
"$tools/venv/bin/pip" install --quiet -r "$requirements" \
  || { echo "tools: pip install failed; see the output above" >&2; exit 1; }
cp "$requirements" "$stamp"
echo "==> tools: ready"
