from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirIoConfig(AppConfig):
    # Not "fhir": that name belongs to the fhir.resources namespace package, which an app called fhir hides.
    name = "fhir_io"
    verbose_name = _("FHIR import")

    def ready(self) -> None:
        from fhir_io.services import member_keys_revoke_for_user
        from igo.services import account_recovered

        account_recovered.connect(
            member_keys_revoke_for_user, dispatch_uid="fhir_io.member_keys_revoke_for_user"
        )
