from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IgoConfig(AppConfig):
    name = "igo"
    verbose_name = _("Accounts and tenancy")

    def ready(self) -> None:
        from igo import access, checks, mfa_session  # noqa: F401  (checks: registers the deploy checks)

        access.connect()  # the access cache's invalidation (igo.access)
        mfa_session.connect()
        from igo import services

        services.connect_key_revocation()  # an account recovered: the keys its user made are revoked  # a factor set up in a session is that session's second factor
