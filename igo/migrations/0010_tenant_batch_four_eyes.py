"""Four eyes on claim batch release, per IGO. The IGOs that exist keep today's behaviour (off) until their
administrator switches it on; an IGO created from now on starts with it on."""

from django.db import migrations, models

HELP = "The finance user who made or last rebuilt a claim batch cannot release it herself."


class Migration(migrations.Migration):
    dependencies = [
        ("igo", "0009_invitation_insurer"),
    ]

    operations = [
        # Added as False, so the rows there are get False; then the default for new rows becomes True.
        migrations.AddField(
            model_name="tenant",
            name="batch_four_eyes",
            field=models.BooleanField(
                default=False, help_text=HELP, verbose_name="four eyes on claim batches"
            ),
        ),
        migrations.AlterField(
            model_name="tenant",
            name="batch_four_eyes",
            field=models.BooleanField(
                default=True, help_text=HELP, verbose_name="four eyes on claim batches"
            ),
        ),
    ]
