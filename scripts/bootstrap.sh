#!/usr/bin/env bash
# Install everything the project needs into .venv (Python deps via uv, pinned by uv.lock).
# System packages (Chromium, poppler, Pango for WeasyPrint) are installed by scripts/services.sh
# on Debian when missing. Usage: scripts/bootstrap.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=.venv
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if ! command -v uv >/dev/null 2>&1 && [ ! -x .tools/bin/uv ]; then
  echo "bootstrap: installing uv into .tools/"
  "$PY" -m venv .tools
  .tools/bin/pip install -q --disable-pip-version-check "uv==0.13.9" 2>&1 | grep -v "^WARNING: Location" || true
fi
UV=$(command -v uv 2>/dev/null || echo .tools/bin/uv)
if [ "${1:-}" = "--dev" ]; then
  "$UV" sync --frozen --python "$PY" --quiet
else
  "$UV" sync --frozen --no-dev --inexact --python "$PY" --quiet  # keeps dev tools if present
fi
echo "bootstrap: .venv ready ($(.venv/bin/python --version))"
