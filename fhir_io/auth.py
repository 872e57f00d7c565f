"""The member system key: `Authorization: Bearer igom_<prefix>_<secret>`, accepted by the FHIR endpoint
only. It authenticates as the member's system user; `request.auth` is the key (its tenant and member)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from fhir_io import services
from fhir_io.models import MemberApiKey
from igo.api.auth import INVALID_KEY, KEYWORD, InsurerRateThrottle, bearer_key
from igo.models import User
from igo.services import api_key_hash

MEMBER_START = f"{services.MEMBER_KEY_PREFIX}_"


class MemberKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, MemberApiKey] | None:
        key = bearer_key(request)
        if key is None or not key.startswith(MEMBER_START):
            return None
        row = (
            MemberApiKey.unscoped.select_related("account__user", "account__organisation", "tenant")
            .filter(key_hash=api_key_hash(key))
            .first()
        )
        now = timezone.now()
        if row is None or not row.is_usable(now):
            raise AuthenticationFailed(INVALID_KEY)
        organisation = row.account.organisation
        user = row.account.user
        # A member that left the IGO (or an IGO switched off) sends nothing more.
        if (
            not user.is_active
            or not row.tenant.is_active
            or not organisation.is_member_on(timezone.localdate(now))
        ):
            raise AuthenticationFailed(INVALID_KEY)
        services.member_key_touch(key=row, now=now)
        return user, row

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="fhir"'


class IsMemberKey(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, MemberApiKey)


class MemberKeyScheme(OpenApiAuthenticationExtension):
    target_class = "fhir_io.auth.MemberKeyAuthentication"
    name = "memberKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "igom_<prefix>_<secret>",
            "description": "A member organisation's system key for the FHIR import, made by the IGO's "
            "administrator. It can only submit care for that member's own professionals.",
        }


class MemberKeyRateThrottle(InsurerRateThrottle):
    """The FHIR import's POSTs per member (its system user), rate `API_FHIR_MEMBER_RATE` (default 60/min)."""

    scope = "fhir_member"
