#!/usr/bin/env bash
# Back up the platform's PostgreSQL database (DATABASE_URL). Everything the platform keeps is in it, the claim
# batches and their KZ301/CSV/PDF files included. Writes, in BACKUP_DIR (default ./backups):
#   igo-<database>-<UTC time>.dump         pg_dump custom format (compressed; one consistent snapshot)
#   igo-<database>-<UTC time>.dump.sha256  its checksum, which scripts/restore.sh checks
# With BACKUP_KEEP_DAYS=N, dumps of this database older than N days are removed afterwards.
# Prints the path of the new dump. Usage: DATABASE_URL=postgres://igo@host:5432/igo scripts/backup.sh [DIR]
# See docs/operations.md, "Backup and restore".
set -euo pipefail
: "${DATABASE_URL:?backup: set DATABASE_URL (postgres://user@host:port/database)}"
case "$DATABASE_URL" in
  postgres://* | postgresql://*) ;;
  *) echo "backup: DATABASE_URL is not a PostgreSQL URL" >&2; exit 2 ;;
esac
dir=${1:-${BACKUP_DIR:-backups}}
mkdir -p "$dir"
db=$(psql -w -X -qAt -d "$DATABASE_URL" -c 'SELECT current_database()')
file="$dir/igo-$db-$(date -u +%Y%m%dT%H%M%SZ).dump"
[ -e "$file" ] && { echo "backup: $file exists already" >&2; exit 1; }
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

# One snapshot of the whole database while the platform keeps running (pg_dump reads in a repeatable-read
# transaction and blocks no writer). A dump that cannot be listed back is no backup.
pg_dump --no-password --format=custom --compress=6 --file="$partial" --dbname="$DATABASE_URL"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$file"
(cd "$dir" && sha256sum "$(basename "$file")" >"$(basename "$file").sha256")
echo "backup: $(du -h "$file" | cut -f1) in $file" >&2

if [ -n "${BACKUP_KEEP_DAYS:-}" ]; then
  find "$dir" -maxdepth 1 -name "igo-$db-*.dump" -mtime +"$BACKUP_KEEP_DAYS" -print | while read -r old; do
    rm -f "$old" "$old.sha256"
    echo "backup: removed $old (older than $BACKUP_KEEP_DAYS days)" >&2
  done
fi
echo "$file"
