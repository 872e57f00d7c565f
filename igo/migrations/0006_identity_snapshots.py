"""Name and e-mail at the time in every log entry; existing rows get the current ones (best effort)."""

from django.db import migrations, models

from igo.db import identity_snapshots_backfill


class Migration(migrations.Migration):
    dependencies = [
        ("igo", "0005_personal_api_token"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="actor_email",
            field=models.EmailField(blank=True, max_length=254, verbose_name="e-mail address at the time"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="actor_name",
            field=models.CharField(blank=True, max_length=150, verbose_name="name at the time"),
        ),
        identity_snapshots_backfill(
            "igo_auditentry",
            {"actor_id": ("actor_name", "actor_email")},
        ),
    ]
