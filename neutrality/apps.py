from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NeutralityConfig(AppConfig):
    name = "neutrality"
    verbose_name = _("Budget neutrality")
