#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh into a new, empty database, and verify the result.
# Usage: scripts/restore.sh DUMP TARGET_DATABASE_URL
#   Create the target first, owned by the application role: createdb --owner=igo igo_restored
#   The script refuses a target that holds any table, sequence, view or function: it never writes over data.
# Steps: the checksum of the dump (DUMP.sha256; RESTORE_WITHOUT_CHECKSUM=1 skips it); pg_restore in one
# transaction with --exit-on-error (a failure leaves the target empty), --no-owner and --no-privileges, so
# every object belongs to the connecting role (or to RESTORE_ROLE, by SET ROLE); then the verification:
# the rows of every table equal the rows in the dump, the triggers of the dump are all present (the frozen
# released batches and the append-only logs among them), and `manage.py migrate --check` finds the schema
# complete for this version of the code. See docs/operations.md, "Backup and restore".
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/restore.sh DUMP TARGET_DATABASE_URL"
dump=${1:?$usage}
target=${2:?$usage}
[ -f "$dump" ] || { echo "restore: no file $dump" >&2; exit 2; }
if [ -f "$dump.sha256" ]; then
  (cd "$(dirname "$dump")" && sha256sum --check --quiet --strict "$(basename "$dump").sha256") \
    || { echo "restore: $dump does not match its checksum" >&2; exit 1; }
elif [ "${RESTORE_WITHOUT_CHECKSUM:-0}" != 1 ]; then
  echo "restore: $dump.sha256 is missing (RESTORE_WITHOUT_CHECKSUM=1 restores without it)" >&2
  exit 1
fi
sql() { psql -w -X -v ON_ERROR_STOP=1 -qAt -d "$target" "$@"; }

user_schemas="n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'"
found=$(sql -c "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE $user_schemas)
                     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE $user_schemas)")
if [ "$found" != 0 ]; then
  echo "restore: the target database is not empty ($found objects); restore only into a new, empty database" >&2
  exit 1
fi

role=()
[ -n "${RESTORE_ROLE:-}" ] && role=(--role="$RESTORE_ROLE")
echo "restore: restoring $dump" >&2
pg_restore --no-password --no-owner --no-privileges "${role[@]}" --exit-on-error --single-transaction \
  --dbname="$target" "$dump"

# --- verification ----------------------------------------------------------------------------------
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The rows as the dump holds them: one line per row between "COPY table ... FROM stdin;" and "\.".
pg_restore --data-only --file=- "$dump" | awk '
  /^COPY .* FROM stdin;$/ { table = $2; sub(/^public\./, "", table); rows[table] = 0; copying = 1; next }
  copying && $0 == "\\." { copying = 0; next }
  copying { rows[table]++ }
  END { for (t in rows) print t, rows[t] }' | sort >"$work/expected"
: >"$work/restored"
while read -r table _; do
  echo "$table $(sql -c "SELECT count(*) FROM public.\"$table\"")" >>"$work/restored"
done <"$work/expected"
if ! diff -u "$work/expected" "$work/restored" >&2; then
  echo "restore: FAILED: the row counts differ from the dump (above: dump -, restored +)" >&2
  failed=1
fi

pg_restore --list "$dump" | awk '$4 == "TRIGGER" { print $7 }' | sort >"$work/triggers_expected"
sql -c "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' ORDER BY 1" \
  | sort >"$work/triggers_restored"
for t in billing_claimbatch_frozen billing_batchline_frozen billing_batchfile_frozen; do
  grep -qx "$t" "$work/triggers_restored" || { echo "restore: FAILED: trigger $t is missing" >&2; failed=1; }
done
if ! diff -u "$work/triggers_expected" "$work/triggers_restored" >&2; then
  echo "restore: FAILED: the enabled triggers differ from the dump's" >&2
  failed=1
fi

python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python
if ! DATABASE_URL="$target" "$python" manage.py migrate --check >"$work/migrate" 2>&1; then
  cat "$work/migrate" >&2
  echo "restore: FAILED: migrations are missing or unapplied for this version of the code" >&2
  failed=1
fi

[ "$failed" = 0 ] || exit 1
key="igo_tenant|pregnancies_client|pregnancies_episode|pregnancies_careevent|billing_claimline|billing_allocation"
key="$key|billing_claimbatch|billing_batchline|billing_batchfile|igo_auditentry|pregnancies_accesslogentry"
echo "restore: verified: $(wc -l <"$work/expected") tables with the dump's rows, $(wc -l <"$work/triggers_restored") triggers, migrations complete" >&2
grep -E "^($key) " "$work/restored" | sed 's/^/  /' >&2
echo "  claim line total: $(sql -c 'SELECT coalesce(sum(amount), 0) FROM billing_claimline')" >&2
