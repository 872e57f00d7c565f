from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PregnanciesConfig(AppConfig):
    name = "pregnancies"
    verbose_name = _("Clients, pregnancies and care events")
