"""On PostgreSQL, refuse UPDATE and DELETE on the NEN 7513 access log at the database level too."""

from django.db import migrations

from igo.db import append_only


class Migration(migrations.Migration):
    dependencies = [("pregnancies", "0001_initial")]
    operations = [
        append_only("pregnancies_accesslogentry", "pregnancies_accesslogentry is append-only (NEN 7513)")
    ]
