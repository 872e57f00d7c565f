#!/usr/bin/env bash
# Start/stop a real Celery worker for the test suite, on the test database pytest-django creates
# (DATABASES.default.TEST.NAME = test_igo). Usage: scripts/worker.sh up|down
# It connects as the role of DATABASE_URL (the tests' role: the tables of the test database are that role's,
# and a test may end the worker's backend, which PostgreSQL allows for the same role), else as igo_app,
# the application role without superuser that scripts/services.sh creates and scripts/test.sh uses.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${SERVICES_STATE_DIR:-/tmp/igo-services}; mkdir -p "$STATE"
PID="$STATE/celery.pid"; LOG="$STATE/celery.log"
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-igo.settings}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export IGO_ALLOW_DEV_SECRET=${IGO_ALLOW_DEV_SECRET:-1}
# The worker writes mail to files, so tests can read what it sent.
export EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend
export EMAIL_FILE_PATH=${EMAIL_FILE_PATH:-$STATE/mail}
case "${1:-up}" in
  up)
    "$0" down >/dev/null 2>&1 || true
    userinfo=igo_app
    if [[ "${DATABASE_URL:-}" =~ ^postgres(ql)?://([^@/]+)@ ]]; then userinfo=${BASH_REMATCH[2]}; fi
    DATABASE_URL="postgres://$userinfo@127.0.0.1:${PGPORT:-5432}/${DJANGO_TEST_DB_NAME:-test_igo}" \
      nohup .venv/bin/celery -A igo worker -l info --concurrency 2 --hostname "test@%h" \
      -Q "${CELERY_QUEUES:-celery}" >"$LOG" 2>&1 &
    echo $! >"$PID"
    for _ in $(seq 160); do
      grep -q " ready\." "$LOG" && { echo "celery: ready (pid $(cat "$PID"))"; exit 0; }
      kill -0 "$(cat "$PID")" 2>/dev/null || break
      sleep 0.25
    done
    echo "celery: not ready"; tail -30 "$LOG"; exit 1 ;;
  down)
    [ -f "$PID" ] || exit 0
    p=$(cat "$PID"); kill "$p" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"; rm -f "$PID"; echo "celery: stopped" ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
