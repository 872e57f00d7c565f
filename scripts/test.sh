#!/usr/bin/env bash
# The full test command (`make test`): install, start PostgreSQL + Redis + a Celery worker, run the
# checks and the whole test suite against them, stop what was started. Fails if any service is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
scripts/services.sh up

# The application's role, not a superuser (scripts/services.sh creates it): the migrations, the suite and the
# worker run as it. The database `test` is only where pytest-django connects before it creates the test database.
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://igo_app@127.0.0.1:${PGPORT:-5432}/test}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/0}
export IGO_REQUIRE_REAL_SERVICES=1 IGO_ALLOW_DEV_SECRET=1 DEBUG=0 HTTPS=0
# The fault-injection scenarios (tests/faults) are part of the test command; IGO_FAULTS=0 leaves them out.
export IGO_FAULTS=${IGO_FAULTS:-1}
export PYTHONDONTWRITEBYTECODE=1
export SERVICES_STATE_DIR=${SERVICES_STATE_DIR:-/tmp/igo-services}
export EMAIL_FILE_PATH=$SERVICES_STATE_DIR/mail
rm -rf "$EMAIL_FILE_PATH"

echo "== static checks"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python manage.py makemigrations --check --dry-run
HTTPS=1 SECRET_KEY=check-deploy-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') ALLOWED_HOSTS=igo.example \
  .venv/bin/python manage.py check --deploy --fail-level WARNING --database default

# Playwright's sync API runs an event loop in the test thread; the ORM calls of browser tests need this.
export DJANGO_ALLOW_ASYNC_UNSAFE=true

# A test database left by an earlier run as another role (before igo_app) is handed over, so that pytest-django,
# connected as igo_app, may drop and recreate it.
psql -w -h 127.0.0.1 -p "${PGPORT:-5432}" -U postgres -d postgres -qc \
  "ALTER DATABASE \"${DJANGO_TEST_DB_NAME:-test_igo}\" OWNER TO igo_app" >/dev/null 2>&1 || true

echo "== test suite (PostgreSQL, Redis, Celery worker)"
trap 'scripts/worker.sh down >/dev/null 2>&1 || true' EXIT
scripts/worker.sh up
.venv/bin/python -m pytest "$@"
