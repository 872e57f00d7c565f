from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PregnanciesConfig(AppConfig):
    name = "pregnancies"
    verbose_name = _("Clients, pregnancies and care events")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from pregnancies.models import CareEvent
        from pregnancies.selectors import usage_changed

        # The care list's cached usage counts of the event's organisation (selectors._usage_counts).
        post_save.connect(usage_changed, sender=CareEvent, dispatch_uid="pregnancies.usage.save")
        post_delete.connect(usage_changed, sender=CareEvent, dispatch_uid="pregnancies.usage.delete")
