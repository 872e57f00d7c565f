#!/usr/bin/env bash
# Services for tests and CI: PostgreSQL on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379,
# plus the Debian packages the test suite needs (Chromium for Playwright, poppler, Pango).
# Reuses servers that already answer; otherwise installs (Debian, root) and starts throwaway ones
# under $STATE. `down` stops only what this script started. Usage: scripts/services.sh up|down|status
set -euo pipefail
STATE=${SERVICES_STATE_DIR:-/tmp/igo-services}
PGPORT=${PGPORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
mkdir -p "$STATE"

apt_ensure() {  # install only the missing packages
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "services: missing packages ${missing[*]}; install them (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "services: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
pg_up_already() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PGPORT"; }
redis_up_already() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

up() {
  apt_ensure chromium poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core libfaketime
  if pg_up_already; then
    if ! psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qAtc 'select 1' >/dev/null 2>&1; then
      echo "services: PostgreSQL on 127.0.0.1:$PGPORT answers but refuses passwordless login as 'postgres'." >&2
      echo "Stop that cluster (pg_ctlcluster 15 main stop) or run with PGPORT=5433." >&2
      exit 1
    fi
    echo "services: postgres already up on $PGPORT"
  else
    apt_ensure postgresql
    local bin data; bin=$(pg_bin); data="$STATE/pgdata"
    if [ ! -s "$data/PG_VERSION" ]; then
      rm -rf "$data"; mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
      as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 -o \
      "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
    echo "services: postgres started (data $data)"
  fi
  psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qAtc "SELECT 1 FROM pg_roles WHERE rolname='root'" | grep -q 1 \
    || psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qc 'CREATE ROLE "root" LOGIN SUPERUSER'
  # The application's role (igo_app): not a superuser and no BYPASSRLS, so the tests, the worker and the
  # migrations prove the platform needs neither; CREATEDB for pytest-django's test database. Trust auth here.
  psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qAtc "SELECT 1 FROM pg_roles WHERE rolname='igo_app'" | grep -q 1 \
    || psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qc 'CREATE ROLE igo_app LOGIN'
  psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qc \
    'ALTER ROLE igo_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE CREATEDB'
  for d in test root; do
    psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qAtc "SELECT 1 FROM pg_database WHERE datname='$d'" | grep -q 1 \
      || psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qc "CREATE DATABASE \"$d\""
  done
  if redis_up_already; then echo "services: redis already up on $REDIS_PORT"; else
    apt_ensure redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
      --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" --dir "$STATE"
    for _ in $(seq 50); do redis_up_already && break; sleep 0.1; done
    redis_up_already || { echo "services: redis failed to start" >&2; tail -20 "$STATE/redis.log" >&2; exit 1; }
    echo "services: redis started (pid $(cat "$STATE/redis.pid"))"
  fi
}

down() {
  if [ -f "$STATE/redis.pid" ]; then kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true; rm -f "$STATE/redis.pid"; echo "services: redis stopped"; fi
  if [ -s "$STATE/pgdata/postmaster.pid" ]; then as_pg "$(pg_bin)/pg_ctl" -D "$STATE/pgdata" -m fast -w stop >/dev/null; echo "services: postgres stopped"; fi
}

case "${1:-up}" in
  up) up ;; down) down ;;
  status) pg_up_already && echo "postgres up" || echo "postgres down"; redis_up_already && echo "redis up" || echo "redis down" ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
