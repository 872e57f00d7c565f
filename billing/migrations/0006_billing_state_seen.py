# The billing run tells a change by what it saw at the last check (the episode's changed_at, the split
# rules) instead of comparing wall-clock moments. Existing checks keep their meaning: an episode the old
# rule counted as seen (changed no later than checked) gets its changed_at; the split rules count as seen
# where the old rule did (the tenant's latest rule saved at least 10 minutes before the check). The rest
# stays empty and is checked again by the next run, once.

import datetime

from django.db import migrations, models
from django.db.models import Count, F, Max, OuterRef, Subquery

OLD_RULE_SETTLE = datetime.timedelta(minutes=10)


def backfill(apps, schema_editor):
    State = apps.get_model("billing", "EpisodeBillingState")
    Episode = apps.get_model("pregnancies", "Episode")
    SplitRule = apps.get_model("billing", "SplitRule")
    State.objects.filter(episode__changed_at__lte=F("checked_at")).update(
        seen_changed_at=Subquery(Episode.objects.filter(pk=OuterRef("episode_id")).values("changed_at")[:1])
    )
    rules = (
        SplitRule.objects.order_by()
        .values("tenant_id")
        .annotate(n=Count("pk"), top=Max("pk"), latest=Max("created_at"))
        .values_list("tenant_id", "n", "top", "latest")
    )
    with_rules = []
    for tenant_id, n, top, latest in rules:
        with_rules.append(tenant_id)
        State.objects.filter(tenant_id=tenant_id, checked_at__gte=latest + OLD_RULE_SETTLE).update(
            seen_rules=f"{n}:{top}"
        )
    State.objects.exclude(tenant_id__in=with_rules).update(seen_rules="0:0")


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0005_quality_claim_lines"),
        ("pregnancies", "0004_clinical_outcomes"),
    ]

    operations = [
        migrations.AddField(
            model_name="episodebillingstate",
            name="seen_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="episodebillingstate",
            name="seen_rules",
            field=models.CharField(blank=True, db_default="", max_length=40),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
