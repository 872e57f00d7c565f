#!/usr/bin/env bash
# The full test command (`make test`): install, start PostgreSQL + Redis + a Celery worker, run the
# checks and the whole test suite against them, stop what was started. Fails if any service is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
scripts/services.sh up

# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh
rm -rf "$EMAIL_FILE_PATH"

echo "== static checks"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python manage.py makemigrations --check --dry-run
# (as deployed: without the tests' DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy check rightly refuses)
HTTPS=1 SECRET_KEY=check-deploy-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') ALLOWED_HOSTS=igo.example \
  env -u DJANGO_ALLOW_ASYNC_UNSAFE .venv/bin/python manage.py check --deploy --fail-level WARNING --database default

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
