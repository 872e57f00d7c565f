#!/usr/bin/env bash
# `make run`: a demo installation on embedded defaults (SQLite, Celery tasks in-process).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export DEBUG=${DEBUG:-1}
export EMAIL_BACKEND=${EMAIL_BACKEND:-django.core.mail.backends.console.EmailBackend}
PORT=${PORT:-8000}
export SITE_URL=${SITE_URL:-http://127.0.0.1:$PORT}
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py seed_demo
echo
echo "IGO platform running at $SITE_URL/  (Ctrl-C stops it)"
exec .venv/bin/python manage.py runserver "127.0.0.1:$PORT"
