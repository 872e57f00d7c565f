from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PregnanciesConfig(AppConfig):
    name = "pregnancies"
    verbose_name = _("Clients, pregnancies and care events")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from pregnancies.models import CareEvent, EventType
        from pregnancies.selectors import catalogue_changed, usage_changed

        # The care list's cached usage counts of the event's organisation (selectors._usage_counts).
        post_save.connect(usage_changed, sender=CareEvent, dispatch_uid="pregnancies.usage.save")
        post_delete.connect(usage_changed, sender=CareEvent, dispatch_uid="pregnancies.usage.delete")
        # The IGO's cached catalogue entries (selectors._catalogue).
        post_save.connect(catalogue_changed, sender=EventType, dispatch_uid="pregnancies.catalogue.save")
        post_delete.connect(catalogue_changed, sender=EventType, dispatch_uid="pregnancies.catalogue.delete")
