#!/bin/sh
# Run by the postgres image of docker-compose.yml once, when it initialises an empty data directory: the
# application's role, without superuser, owning the application's database. The superuser (POSTGRES_USER)
# is for the operator only; web, worker and beat connect as this role (docs/operations.md, "Database role").
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
  --set=role="${IGO_DB_USER:-igo}" --set=db="${IGO_DB_NAME:-igo}" --set=pw="${IGO_DB_PASSWORD:?set IGO_DB_PASSWORD}" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"role";
SQL
