from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirIoConfig(AppConfig):
    # Not "fhir": that name belongs to the fhir.resources namespace package, which an app called fhir hides.
    name = "fhir_io"
    verbose_name = _("FHIR import")

    def ready(self) -> None:
        from fhir_io.services import (
            member_keys_of,
            member_keys_revoke_for_user,
            member_keys_revoke_on_access_end,
        )
        from igo.services import account_recovered, member_access_ended, organisational_keys_of

        account_recovered.connect(
            member_keys_revoke_for_user, dispatch_uid="fhir_io.member_keys_revoke_for_user"
        )
        member_access_ended.connect(
            member_keys_revoke_on_access_end, dispatch_uid="fhir_io.member_keys_revoke_on_access_end"
        )
        organisational_keys_of.connect(member_keys_of, dispatch_uid="fhir_io.member_keys_of")
