from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_overhead_and_partial_data")]

    operations = [
        migrations.RemoveConstraint(
            model_name="contract",
            name="contract_percentages_valid",
        ),
        migrations.RemoveField(
            model_name="contract",
            name="overhead_pct",
        ),
        migrations.RemoveField(
            model_name="contract",
            name="reserve_pct",
        ),
        migrations.RemoveField(
            model_name="partialrule",
            name="before_week",
        ),
        migrations.RemoveField(
            model_name="partialrule",
            name="phases",
        ),
    ]
