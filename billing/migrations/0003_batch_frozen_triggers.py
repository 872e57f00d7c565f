"""A released batch, its lines and its files never change: PostgreSQL refuses it as a second wall."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

CREATE = """
CREATE OR REPLACE FUNCTION billing_claimbatch_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'released' THEN
        RAISE EXCEPTION 'A released claim batch cannot be changed or deleted.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF NEW.number <> OLD.number OR NEW.insurer_id <> OLD.insurer_id OR NEW.period <> OLD.period
       OR NEW.total <> OLD.total OR NEW.line_count <> OLD.line_count THEN
        RAISE EXCEPTION 'The contents of a claim batch are fixed when it is made.';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_claimbatch_frozen BEFORE UPDATE OR DELETE ON billing_claimbatch
    FOR EACH ROW EXECUTE FUNCTION billing_claimbatch_frozen();

CREATE OR REPLACE FUNCTION billing_batch_part_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'Batch lines and files are written once.';
    END IF;
    IF EXISTS (SELECT 1 FROM billing_claimbatch WHERE id = OLD.batch_id AND status = 'released') THEN
        RAISE EXCEPTION 'A released claim batch cannot be changed or deleted.';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_batchline_frozen BEFORE UPDATE OR DELETE ON billing_batchline
    FOR EACH ROW EXECUTE FUNCTION billing_batch_part_frozen();
CREATE TRIGGER billing_batchfile_frozen BEFORE UPDATE OR DELETE ON billing_batchfile
    FOR EACH ROW EXECUTE FUNCTION billing_batch_part_frozen();
"""

DROP = """
DROP TRIGGER IF EXISTS billing_batchfile_frozen ON billing_batchfile;
DROP TRIGGER IF EXISTS billing_batchline_frozen ON billing_batchline;
DROP TRIGGER IF EXISTS billing_claimbatch_frozen ON billing_claimbatch;
DROP FUNCTION IF EXISTS billing_batch_part_frozen();
DROP FUNCTION IF EXISTS billing_claimbatch_frozen();
"""


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_claim_batches")]

    operations = [migrations.RunPython(forwards, backwards)]
