"""Reference tariffs are operator data for all IGOs: maintained here by platform staff (or loaded with
`manage.py reference_tariffs_load`)."""

from django.contrib import admin

from neutrality.models import ReferenceTariff


@admin.register(ReferenceTariff)
class ReferenceTariffAdmin(admin.ModelAdmin):
    list_display = ["discipline", "code", "description", "valid_from", "valid_to", "max_tariff", "unit"]
    list_filter = ["discipline", "unit"]
    search_fields = ["code", "description", "source_note"]
