"""Authentication and throttling for the insurer API: per-insurer bearer keys.

A key is `igo_<prefix>_<secret>`; the database holds only its SHA-256 (`InsurerApiToken.key_hash`). A key
authenticates as the person who made it, and only for the insurer it was made for: the views read the
insurer from `request.auth`, never from the user's other memberships. A key stops working when it expires,
is revoked, or its maker is no longer an active employee of that insurer.
"""

from __future__ import annotations

from typing import Any, cast

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from igo import services
from igo.models import InsurerApiToken, User

KEYWORD = "Bearer"
INVALID_KEY = _("Invalid, expired or revoked API key.")


class InsurerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer igo_<prefix>_<secret>`."""

    def authenticate(self, request: Request) -> tuple[User, InsurerApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # not ours: let the next class (the session) try
        if len(parts) != 2:
            raise AuthenticationFailed(_("Send the key as `Authorization: Bearer <key>`."))
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(INVALID_KEY) from exc
        token = (
            InsurerApiToken.objects.select_related("insurer", "created_by")
            .filter(key_hash=services.insurer_token_hash(key))
            .first()
        )
        now = timezone.now()
        if token is None or not token.is_usable(now):
            raise AuthenticationFailed(INVALID_KEY)
        user = token.created_by
        # The key is the maker's: when they leave the insurer (or the account is closed), it stops working.
        if not services.insurer_member(user=user, insurer=token.insurer):
            raise AuthenticationFailed(INVALID_KEY)
        services.insurer_token_touch(token=token, now=now)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 when no credentials were sent.
        return f'{KEYWORD} realm="api"'


class InsurerRateThrottle(SimpleRateThrottle):
    """Per key (or per user for the browser session), rate `API_INSURER_RATE` (default 120/min)."""

    scope = "insurer"

    def get_rate(self) -> str | None:
        # Read at request time: DRF's class attribute THROTTLE_RATES is frozen at import, which would
        # ignore settings changed afterwards (and make the rate impossible to test).
        return cast(str | None, api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, InsurerApiToken):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class InsurerTokenScheme(OpenApiAuthenticationExtension):
    """Shows the insurer key in the OpenAPI schema as an HTTP bearer scheme."""

    target_class = "igo.api.auth.InsurerTokenAuthentication"
    name = "insurerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "igo_<prefix>_<secret>",
            "description": "An insurer API key, made in the insurer portal under API keys. "
            "Valid for at most a year; can be revoked there.",
        }
