"""On PostgreSQL, refuse UPDATE and DELETE on the audit table at the database level too."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION igo_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'igo_auditentry is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER igo_auditentry_append_only
    BEFORE UPDATE OR DELETE ON igo_auditentry
    FOR EACH ROW EXECUTE FUNCTION igo_refuse_audit_change();
"""
DROP = """
DROP TRIGGER IF EXISTS igo_auditentry_append_only ON igo_auditentry;
DROP FUNCTION IF EXISTS igo_refuse_audit_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("igo", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
