"""Database helpers shared by migrations."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def append_only(table: str, message: str) -> migrations.RunPython:
    """A migration operation that, on PostgreSQL, makes `table` refuse every UPDATE and DELETE.

    The application layer refuses them too; the trigger is the second wall for logs that must not change
    (NEN 7513 access log, administrative audit).
    """
    function, trigger = f"{table}_refuse_change", f"{table}_append_only"
    create = f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '{message}';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {function}();
    """
    drop = f"DROP TRIGGER IF EXISTS {trigger} ON {table}; DROP FUNCTION IF EXISTS {function}();"

    def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(create)

    def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(drop)

    return migrations.RunPython(forwards, backwards)


def identity_snapshots_backfill(table: str, columns: dict[str, tuple[str, str]]) -> migrations.RunPython:
    """A migration operation that fills a log's new name/e-mail snapshot columns from the users as they are now.

    Best effort: for rows written before the columns existed, the name and e-mail at the time were never
    stored, so the current ones are the best there is (an address changed before this migration cannot be
    recovered). `columns` maps a user foreign-key column to its (name, e-mail) snapshot columns.

    The table refuses UPDATE through its append-only trigger; the trigger is switched off for this one
    statement inside the migration's transaction (ALTER TABLE takes an exclusive lock, so no other session
    writes meanwhile) and switched on again before the transaction commits. Only the table's owner, the
    role that runs the migrations, may do this.
    """
    trigger = f"{table}_append_only"

    def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        postgresql = schema_editor.connection.vendor == "postgresql"
        if postgresql:
            # Deferred foreign-key checks still pending in this transaction would make ALTER TABLE fail.
            schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            schema_editor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        for fk, (name, email) in columns.items():
            schema_editor.execute(
                f"UPDATE {table} SET "  # noqa: S608 - table and column names come from the migration itself
                f"{name} = (SELECT u.full_name FROM igo_user u WHERE u.id = {table}.{fk}), "
                f"{email} = (SELECT u.email FROM igo_user u WHERE u.id = {table}.{fk}) "
                f"WHERE {fk} IS NOT NULL AND {email} = ''"
            )
        if postgresql:
            schema_editor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
            schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")

    return migrations.RunPython(forwards, migrations.RunPython.noop)
