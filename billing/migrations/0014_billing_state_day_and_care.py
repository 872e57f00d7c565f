# The billing run records the day a check billed by and, per phase, the fingerprint of the care its split was
# computed or confirmed on. An existing check billed by the local day of its moment (what the run's daily rule
# read so far); its care fingerprints stay unknown, so the next check of a changed episode divides its lines
# again once, as before.

import zoneinfo

from django.conf import settings
from django.db import migrations, models
from django.db.models.functions import TruncDate


def backfill(apps, schema_editor):
    State = apps.get_model("billing", "EpisodeBillingState")
    State.objects.update(checked_for=TruncDate("checked_at", tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE)))


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0013_return_codes"),
    ]

    operations = [
        migrations.AddField(
            model_name="episodebillingstate",
            name="checked_for",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="episodebillingstate",
            name="seen_care",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
