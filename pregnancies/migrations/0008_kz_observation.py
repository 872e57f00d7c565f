"""Existing IGOs' catalogues get the maternity carer's observation entry (new IGOs get it from
pregnancies.catalogue.DEFAULT_CATALOGUE). An IGO that already has a KZ_OBS entry keeps its own."""

from decimal import Decimal

from django.db import migrations


def add_observation(apps, schema_editor):
    Tenant = apps.get_model("igo", "Tenant")
    EventType = apps.get_model("pregnancies", "EventType")
    having = set(EventType.objects.filter(code="KZ_OBS").values_list("tenant_id", flat=True))
    EventType.objects.bulk_create(
        EventType(
            tenant_id=tenant_id,
            code="KZ_OBS",
            name_nl="Kraamzorg observatie",
            name_en="Maternity care observation",
            phase="postnatal",
            unit="item",
            disciplines=["maternity_carer"],
            max_quantity=Decimal("1"),
            duplicate_window_minutes=0,
        )
        for tenant_id in Tenant.objects.values_list("pk", flat=True)
        if tenant_id not in having
    )


class Migration(migrations.Migration):
    dependencies = [("pregnancies", "0007_lifecycle_birth_fields"), ("igo", "0001_initial")]

    operations = [migrations.RunPython(add_observation, migrations.RunPython.noop)]
