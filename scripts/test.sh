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

trap 'scripts/worker.sh down >/dev/null 2>&1 || true' EXIT
started=$SECONDS

# IGO_TEST_DATE=2028-02-29 (or 2028-02-29T00:30, Amsterdam time): the whole suite with the clock of the tests
# and of the worker moved to that moment (scripts/dated.sh), instead of the passes below.
if [ -n "${IGO_TEST_DATE:-}" ]; then
  echo "== test suite at $IGO_TEST_DATE (PostgreSQL, Redis, Celery worker)"
  scripts/dated.sh "$IGO_TEST_DATE" "$@"
  echo "== test command took $((SECONDS - started)) s of tests"
  exit 0
fi

echo "== test suite (PostgreSQL, Redis, Celery worker)"
scripts/worker.sh up
.venv/bin/python -m pytest "$@"
scripts/worker.sh down >/dev/null

# The date-sensitive tests (marker `dated`) again under each moved clock (scripts/clocks.py: month end and
# start, year end and start, 29 February, both nights the clocks change, three years ahead), the worker
# included. Two clocks at a time, each with its own test database, Redis database and worker (a pass is
# mostly one busy process, so two share these two cores well). Left out when pytest arguments were given,
# or with IGO_TEST_CLOCKS=none; IGO_TEST_CLOCKS="a b" runs those moments instead.
clock_pass() {  # moment slot log
  DJANGO_TEST_DB_NAME=test_igo_clock$2 REDIS_URL=${REDIS_URL%/*}/$((10 + $2)) \
    SERVICES_STATE_DIR=$SERVICES_STATE_DIR/clock$2 EMAIL_FILE_PATH=$SERVICES_STATE_DIR/clock$2/mail \
    scripts/dated.sh "$1" >"$3" 2>&1
}
if [ $# -eq 0 ] && [ "${IGO_TEST_CLOCKS:-}" != none ]; then
  read -r -a moments <<<"${IGO_TEST_CLOCKS:-$(python3 scripts/clocks.py | awk '{print $2}' | tr '\n' ' ')}"
  failed=()
  for ((i = 0; i < ${#moments[@]}; i += 2)); do
    pass_start=$SECONDS
    pids=()
    for slot in 0 1; do
      moment=${moments[i + slot]:-}
      [ -n "$moment" ] || continue
      clock_pass "$moment" "$slot" "$SERVICES_STATE_DIR/clock$slot.log" &
      pids+=("$!")
    done
    for slot in "${!pids[@]}"; do
      moment=${moments[i + slot]}
      if wait "${pids[$slot]}"; then status=passed; else status=FAILED; failed+=("$moment"); fi
      cat "$SERVICES_STATE_DIR/clock$slot.log"
      echo "== moved clock $moment: $status"
    done
    echo "== moved clocks ${moments[*]:i:2}: $((SECONDS - pass_start)) s"
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "== FAILED under the moved clocks: ${failed[*]}" >&2
    exit 1
  fi
fi
echo "== test command took $((SECONDS - started)) s of tests"
