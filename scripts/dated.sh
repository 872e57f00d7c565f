#!/usr/bin/env bash
# Run tests with the clock moved to a chosen moment, the Celery worker included: both run under libfaketime
# (Debian's libfaketime) with the same offset from the real clock, so they agree to the second and the clock
# goes on ticking from the chosen moment. PostgreSQL and Redis keep the real clock; the platform takes every
# date and time from Python (no now() in SQL), so that is what it sees.
#
#   scripts/dated.sh 2028-02-29T00:30 [pytest args]        Amsterdam time unless the moment has an offset
#
# Without pytest args it runs the date-sensitive tests (marker `dated`), not the browser or fault suites.
# Called by scripts/test.sh for each moved clock; on its own it needs what `make test` installed and started.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/test-env.sh
[[ "${DATABASE_URL:-}" == postgres* ]] || source scripts/test-env.sh
moment=${1:?usage: scripts/dated.sh MOMENT [pytest args]}
shift
lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1 || true)
if [ -z "$lib" ]; then
  echo "dated: libfaketime is missing (Debian: apt-get install libfaketime; scripts/services.sh up does)" >&2
  exit 1
fi
offset=$(python3 scripts/clocks.py --offset "$moment")
# The monotonic clock moves with it: libfaketime 0.9.10 fails every sleep (EINVAL) when it is left alone.
export LD_PRELOAD=$lib FAKETIME="${offset}" IGO_TEST_CLOCK=$moment
# Entries that a pass at a later moment left in Redis (rate limits, progress) would look like the future here.
export CACHE_KEY_PREFIX="igo-clock${offset}"
echo "== tests at $moment (Europe/Amsterdam unless given; offset ${offset} s)"
scripts/worker.sh up
if [ $# -eq 0 ]; then
  set -- -m "dated and not browser and not faults" -q
fi
status=0
.venv/bin/python -m pytest "$@" || status=$?
scripts/worker.sh down >/dev/null 2>&1 || true
exit $status
