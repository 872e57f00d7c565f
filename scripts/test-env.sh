# The environment of the test suite, sourced by scripts/test.sh and (when run on its own) scripts/dated.sh.
# The application's role, not a superuser (scripts/services.sh creates it): the migrations, the suite and the
# worker run as it. The database `test` is only where pytest-django connects before it creates the test database.
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://igo_app@127.0.0.1:${PGPORT:-5432}/test}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/0}
export IGO_REQUIRE_REAL_SERVICES=1 IGO_ALLOW_DEV_SECRET=1 DEBUG=0 HTTPS=0
# The fault-injection scenarios (tests/faults) are part of the test command; IGO_FAULTS=0 leaves them out.
export IGO_FAULTS=${IGO_FAULTS:-1}
export PYTHONDONTWRITEBYTECODE=1
export SERVICES_STATE_DIR=${SERVICES_STATE_DIR:-/tmp/igo-services}
export EMAIL_FILE_PATH=${EMAIL_FILE_PATH:-$SERVICES_STATE_DIR/mail}
# Playwright's sync API runs an event loop in the test thread; the ORM calls of browser tests need this.
export DJANGO_ALLOW_ASYNC_UNSAFE=true
