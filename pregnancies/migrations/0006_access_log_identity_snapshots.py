"""Name and e-mail at the time in every log entry; existing rows get the current ones (best effort)."""

from django.db import migrations, models

from igo.db import identity_snapshots_backfill


class Migration(migrations.Migration):
    dependencies = [
        ("pregnancies", "0005_careevent_active_episode_org"),
    ]

    operations = [
        migrations.AddField(
            model_name="accesslogentry",
            name="on_behalf_of_email",
            field=models.EmailField(blank=True, max_length=254),
        ),
        migrations.AddField(
            model_name="accesslogentry",
            name="on_behalf_of_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="accesslogentry",
            name="user_email",
            field=models.EmailField(blank=True, max_length=254, verbose_name="e-mail address at the time"),
        ),
        migrations.AddField(
            model_name="accesslogentry",
            name="user_name",
            field=models.CharField(blank=True, max_length=150, verbose_name="name at the time"),
        ),
        identity_snapshots_backfill(
            "pregnancies_accesslogentry",
            {
                "user_id": ("user_name", "user_email"),
                "on_behalf_of_id": ("on_behalf_of_name", "on_behalf_of_email"),
            },
        ),
    ]
