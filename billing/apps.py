from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Contracts, claims and revenue split")

    def ready(self) -> None:
        from billing import setup_checklist
        from billing.finance_home import dashboard_part
        from igo import dashboard

        dashboard.register(dashboard_part)
        dashboard.register(setup_checklist.dashboard_part)
