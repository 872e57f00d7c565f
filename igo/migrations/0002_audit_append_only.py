"""On PostgreSQL, refuse UPDATE and DELETE on the audit table at the database level too."""

from django.db import migrations

from igo.db import append_only


class Migration(migrations.Migration):
    dependencies = [("igo", "0001_initial")]
    operations = [append_only("igo_auditentry", "igo_auditentry is append-only")]
