"""On PostgreSQL, refuse UPDATE and DELETE on the NEN 7513 access log at the database level too."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION pregnancies_refuse_access_log_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'pregnancies_accesslogentry is append-only (NEN 7513)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER pregnancies_accesslog_append_only
    BEFORE UPDATE OR DELETE ON pregnancies_accesslogentry
    FOR EACH ROW EXECUTE FUNCTION pregnancies_refuse_access_log_change();
"""
DROP = """
DROP TRIGGER IF EXISTS pregnancies_accesslog_append_only ON pregnancies_accesslogentry;
DROP FUNCTION IF EXISTS pregnancies_refuse_access_log_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("pregnancies", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
